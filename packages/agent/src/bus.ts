// The in-guest message bus: topics, local subscribers, per-topic ordering, request/reply over `_inbox.` topics.

import { INBOX_PREFIX, isTopic, MAX_MESSAGE_BYTES, TOPIC_PATTERN } from '@lodge/api/guest';

export { isTopic };
import { randomHex } from './node18-compat.js';
import { OpError } from './op-error.js';

export interface BusMessage {
  topic: string;
  replyTo?: string;
  data: Buffer;
}

/** A message on its way to subscribers; the JSON line is built once, on first use. */
export interface Delivery extends BusMessage {
  line(): string;
}

export interface Subscriber {
  /** Resolves true once the subscriber took the message, false if it was dropped (too slow, gone). */
  deliver(message: Delivery): Promise<boolean>;
}

/** Sends a guest program's publish to the host; resolves with the host's delivered count. */
export type Forwarder = (message: BusMessage) => Promise<number>;


export function checkTopic(topic: unknown, what = 'topic'): string {
  if (!isTopic(topic)) throw new OpError('invalid_argument', `${what} must match ${TOPIC_PATTERN.source} (or be ${INBOX_PREFIX} and that)`);
  return topic;
}

export function checkBody(data: Buffer): Buffer {
  if (data.length > MAX_MESSAGE_BYTES) throw new OpError('invalid_argument', `a message holds at most ${MAX_MESSAGE_BYTES} bytes (got ${data.length})`);
  return data;
}

export function encodeLine(message: BusMessage): string {
  const out: Record<string, string> = { topic: message.topic };
  if (message.replyTo !== undefined) out.replyTo = message.replyTo;
  out.data = message.data.toString('base64');
  return `${JSON.stringify(out)}\n`;
}

export class Bus {
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  /** The tail of each topic's publish chain, per direction: order is kept per topic. */
  private readonly chains = new Map<string, Promise<unknown>>();
  private forwarder: Forwarder | undefined;

  setForwarder(forwarder: Forwarder | undefined): void {
    this.forwarder = forwarder;
  }

  subscribe(topic: string, subscriber: Subscriber): () => void {
    let set = this.subscribers.get(topic);
    if (!set) this.subscribers.set(topic, (set = new Set()));
    set.add(subscriber);
    return () => {
      set?.delete(subscriber);
      if (set?.size === 0 && this.subscribers.get(topic) === set) this.subscribers.delete(topic);
    };
  }

  subscriberCount(topic: string): number {
    return this.subscribers.get(topic)?.size ?? 0;
  }

  /** A guest program's publish: local subscribers and the host; resolves with the sum delivered. */
  publishLocal(message: BusMessage): Promise<number> {
    return this.chain(`out:${message.topic}`, async () => {
      const [local, remote] = await Promise.all([
        this.deliverLocal(message),
        this.forwarder ? this.forwarder(message).catch(() => 0) : 0,
      ]);
      return local + remote;
    });
  }

  /** A publish from the host: local subscribers only (the host delivered to its own). */
  publishFromHost(message: BusMessage): Promise<number> {
    return this.chain(`in:${message.topic}`, () => this.deliverLocal(message));
  }

  /** Publishes with a fresh inbox as replyTo and resolves with the first reply. */
  async request(message: Omit<BusMessage, 'replyTo'>, timeoutMs: number): Promise<BusMessage> {
    const inbox = `${INBOX_PREFIX}${randomHex(8)}`;
    let settle: ((m: BusMessage) => void) | undefined;
    const reply = new Promise<BusMessage>((resolve) => (settle = resolve));
    const unsubscribe = this.subscribe(inbox, {
      deliver: async (m) => {
        settle?.({ topic: m.topic, data: m.data, ...(m.replyTo !== undefined ? { replyTo: m.replyTo } : {}) });
        return true;
      },
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new OpError('timeout', `no reply on ${message.topic} within ${timeoutMs} ms`)), timeoutMs);
      });
      const delivered = this.publishLocal({ ...message, replyTo: inbox }).then((n) => {
        if (n === 0) throw new OpError('not_found', `no subscriber for ${message.topic}`);
        return reply;
      });
      return await Promise.race([reply, delivered, timeout]);
    } finally {
      if (timer) clearTimeout(timer);
      unsubscribe();
    }
  }

  private async deliverLocal(message: BusMessage): Promise<number> {
    const set = this.subscribers.get(message.topic);
    if (!set || set.size === 0) return 0;
    let line: string | undefined;
    const delivery: Delivery = { ...message, line: () => (line ??= encodeLine(message)) };
    const results = await Promise.all([...set].map((s) => s.deliver(delivery).catch(() => false)));
    return results.filter(Boolean).length;
  }

  private chain<T>(key: string, step: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(key) ?? Promise.resolve();
    const next = previous.then(step, step);
    const tail = next.catch(() => undefined);
    this.chains.set(key, tail);
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return next;
  }
}
