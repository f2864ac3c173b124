import { randomUUID } from 'node:crypto';
import { LodgeError, type Operation, type Progress } from '@lodge/api';
import type { EventBus } from './event-bus.js';

const KEEP_FINISHED = 500;

export interface OperationContext {
  progress(p: Progress): void;
}

/** Runs long work in the background: 202 + an id now, progress and completion as events. */
export class Operations {
  private readonly ops = new Map<string, { op: Operation; done: Promise<Operation> }>();

  constructor(private readonly events: EventBus) {}

  run(kind: string, target: string | undefined, work: (ctx: OperationContext) => Promise<void>): Operation {
    const op: Operation = { id: randomUUID(), kind, target, status: 'running', createdAt: new Date().toISOString() };
    const update = (patch: Partial<Operation>): void => {
      Object.assign(op, patch);
      this.events.publish({ type: 'operation', operation: { ...op } });
    };
    update({});
    const done = work({ progress: (progress) => update({ progress }) }).then(
      () => (update({ status: 'succeeded', finishedAt: new Date().toISOString() }), { ...op }),
      (err: unknown) => (update({ status: 'failed', error: LodgeError.from(err).toJSON(), finishedAt: new Date().toISOString() }), { ...op }),
    );
    this.ops.set(op.id, { op, done });
    this.trim();
    return { ...op };
  }

  get(id: string): Operation {
    const entry = this.ops.get(id);
    if (!entry) throw new LodgeError('not_found', `operation ${id} not found`, { hint: 'operations are kept in memory until the daemon restarts' });
    return { ...entry.op };
  }

  /** Resolves when the operation finishes or the signal aborts (then with its current state). */
  async wait(id: string, signal?: AbortSignal): Promise<Operation> {
    const entry = this.ops.get(id);
    if (!entry) return this.get(id);
    if (!signal) return entry.done;
    const aborted = new Promise<Operation>((resolve) => signal.addEventListener('abort', () => resolve({ ...entry.op }), { once: true }));
    return Promise.race([entry.done, aborted]);
  }

  private trim(): void {
    if (this.ops.size <= KEEP_FINISHED) return;
    for (const [id, { op }] of this.ops) {
      if (this.ops.size <= KEEP_FINISHED) break;
      if (op.status !== 'running') this.ops.delete(id);
    }
  }
}
