import type { LodgeEventBody, LodgeEventRecord } from '@lodge/api';

export interface EventSink {
  append(body: LodgeEventBody): LodgeEventRecord;
  since(afterId: number, opts?: { vm?: string; limit?: number }): LodgeEventRecord[];
  lastId?(): number;
}

type Listener = (ev: LodgeEventRecord) => void;

/** Persists each event, then fans it out to live subscribers (the /v1/events streams). */
export class EventBus {
  private readonly listeners = new Set<Listener>();
  private lastId: number | undefined;

  constructor(private readonly sink: EventSink) {}

  publish(body: LodgeEventBody): LodgeEventRecord {
    const rec = this.sink.append(body);
    this.lastId = rec.id;
    for (const l of this.listeners) l(rec);
    return rec;
  }

  /**
   * Live only, never stored (metric samples: thousands a day would push real events out of the log). It carries
   * the id of the last stored event, so a client resuming with `since` neither misses nor repeats stored ones.
   */
  broadcast(body: LodgeEventBody): void {
    if (this.listeners.size === 0) return;
    this.lastId ??= this.sink.lastId?.() ?? 0;
    const rec = { ...body, id: this.lastId, time: new Date().toISOString() };
    for (const l of this.listeners) l(rec);
  }

  /** Stored events after `afterId`, for clients that reconnect and must not miss any. */
  replay(afterId: number, vm?: string): LodgeEventRecord[] {
    return this.sink.since(afterId, { vm });
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
