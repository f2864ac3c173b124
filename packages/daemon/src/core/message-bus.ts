import type { BusDelivery } from '../ports/guest-channel.js';

/** Resolves once the subscriber's transport took the message, so a slow subscriber slows the publisher. */
export type Deliver = (message: BusDelivery) => Promise<void>;

const keyOf = (vm: string, topic: string): string => `${vm}\0${topic}`;

/** The host side of each VM's message bus: subscribers per VM per topic. */
export class MessageBus {
  private readonly subscribers = new Map<string, Set<Deliver>>();

  subscribe(vm: string, topic: string, deliver: Deliver): () => void {
    const key = keyOf(vm, topic);
    const set = this.subscribers.get(key) ?? new Set<Deliver>();
    set.add(deliver);
    this.subscribers.set(key, set);
    return () => {
      set.delete(deliver);
      if (set.size === 0 && this.subscribers.get(key) === set) this.subscribers.delete(key);
    };
  }

  /** Hands the message to every subscriber of its topic; resolves with how many took it, after all of them did. */
  async deliver(vm: string, message: BusDelivery): Promise<number> {
    const set = this.subscribers.get(keyOf(vm, message.topic));
    if (!set) return 0;
    const results = await Promise.allSettled([...set].map((d) => d(message)));
    return results.filter((r) => r.status === 'fulfilled').length;
  }
}
