// The guest programs' side of the bus: publish, subscribe, request and serve over /run/lodge/bus.sock.

import type { GuestInfo } from '@lodge/api/guest';
import { BusConnection, type WireMessage } from './bus-connection.js';

export interface BusMessage {
  topic: string;
  replyTo?: string;
  data: Buffer;
}
export type BusData = Buffer | Uint8Array | string;
export type Handler = (message: BusMessage) => void | Promise<void>;
export type ServeHandler = (message: BusMessage) => BusData | Promise<BusData>;

export interface Subscription {
  close(): void;
  /** Resolves when the subscription ends (closed, or the agent went away). */
  closed: Promise<void>;
}

export const DEFAULT_BUS_SOCKET = '/run/lodge/bus.sock';

function toBase64(data: BusData): string {
  return (typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength)).toString('base64');
}

function fromWire(m: WireMessage): BusMessage {
  return { topic: m.topic, data: Buffer.from(m.data, 'base64'), ...(m.replyTo !== undefined ? { replyTo: m.replyTo } : {}) };
}

export class BusClient {
  private connection: Promise<BusConnection> | undefined;

  constructor(readonly path: string = process.env.LODGE_BUS_SOCKET || DEFAULT_BUS_SOCKET) {}

  /** Resolves with how many subscribers (guest and host) took the message. */
  async publish(topic: string, data: BusData, options: { replyTo?: string } = {}): Promise<number> {
    const answer = await this.call({ op: 'publish', topic, data: toBase64(data), ...(options.replyTo ? { replyTo: options.replyTo } : {}) });
    return Number(answer.delivered ?? 0);
  }

  /** Publishes with a fresh reply inbox and resolves with the first reply. */
  async request(topic: string, data: BusData, options: { timeoutMs?: number } = {}): Promise<BusMessage> {
    const answer = await this.call({ op: 'request', topic, data: toBase64(data), timeoutMs: options.timeoutMs ?? 30_000 });
    return fromWire(answer as unknown as WireMessage);
  }

  /** Calls `handler` for each message, one at a time: a slow handler slows the publishers (back-pressure). */
  async subscribe(topic: string, handler: Handler): Promise<Subscription> {
    const queue: WireMessage[] = [];
    let running = false;
    let connection: BusConnection | undefined;
    const run = async (): Promise<void> => {
      running = true;
      for (let m = queue.shift(); m; m = queue.shift()) {
        try {
          await handler(fromWire(m));
        } catch (error) {
          process.stderr.write(`bus handler for ${topic}: ${error instanceof Error ? error.message : String(error)}\n`);
        }
      }
      running = false;
      connection?.socket.resume();
    };
    // Its own connection, so pausing it for a slow handler never holds up answers to publish/request.
    connection = await BusConnection.open(this.path, (m) => {
      queue.push(m);
      connection?.socket.pause();
      if (!running) void run();
    });
    await connection.call({ op: 'subscribe', topic });
    connection.socket.ref();
    const c = connection;
    const closed = new Promise<void>((resolve) => c.socket.once('close', () => resolve()));
    return { close: () => c.close(), closed };
  }

  /** Answers each request on `topic` with the handler's result, published to the request's replyTo. */
  serve(topic: string, handler: ServeHandler): Promise<Subscription> {
    return this.subscribe(topic, async (message) => {
      const reply = await handler(message);
      if (message.replyTo) await this.publish(message.replyTo, reply);
    });
  }

  async info(): Promise<GuestInfo> {
    return (await this.call({ op: 'info' })).info as GuestInfo;
  }

  close(): void {
    void this.connection?.then((c) => c.close(), () => undefined);
    this.connection = undefined;
  }

  private async call(request: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.connection ??= BusConnection.open(this.path);
    const connection = await this.connection.catch((error: unknown) => {
      this.connection = undefined;
      throw error;
    });
    return connection.call(request);
  }
}

let shared: BusClient | undefined;
const client = (): BusClient => (shared ??= new BusClient());

export const publish = (topic: string, data: BusData, options?: { replyTo?: string }): Promise<number> => client().publish(topic, data, options);
export const subscribe = (topic: string, handler: Handler): Promise<Subscription> => client().subscribe(topic, handler);
export const request = (topic: string, data: BusData, options?: { timeoutMs?: number }): Promise<BusMessage> => client().request(topic, data, options);
export const serve = (topic: string, handler: ServeHandler): Promise<Subscription> => client().serve(topic, handler);
