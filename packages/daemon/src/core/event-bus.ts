import type { LodgeEventBody, LodgeEventRecord } from '@lodge/api';

export interface EventSink {
  append(body: LodgeEventBody): LodgeEventRecord;
  since(afterId: number, opts?: { vm?: string; limit?: number }): LodgeEventRecord[];
}

type Listener = (ev: LodgeEventRecord) => void;

/** Persists each event, then fans it out to live subscribers (the /v1/events streams). */
export class EventBus {
  private readonly listeners = new Set<Listener>();

  constructor(private readonly sink: EventSink) {}

  publish(body: LodgeEventBody): LodgeEventRecord {
    const rec = this.sink.append(body);
    for (const l of this.listeners) l(rec);
    return rec;
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
