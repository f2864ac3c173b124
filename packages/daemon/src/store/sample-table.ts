import type { Statement } from 'better-sqlite3';
import type { VmSample } from '@lodge/api';
import type { Db } from './database.js';

/** Metric samples, one row per VM per round; pruned to the retention window by the sampler. */
export class SampleTable {
  private readonly insert: Statement<[string, number, string]>;
  private readonly insertRound: (samples: readonly VmSample[]) => void;

  constructor(private readonly db: Db) {
    this.insert = db.prepare('INSERT INTO samples (vm, time, body) VALUES (?, ?, ?)');
    // One transaction per round: one WAL commit however many VMs run.
    this.insertRound = db.transaction((samples: readonly VmSample[]) => {
      for (const s of samples) this.insert.run(s.vm, Date.parse(s.time), JSON.stringify(s));
    });
  }

  append(samples: readonly VmSample[]): void {
    if (samples.length > 0) this.insertRound(samples);
  }

  /** Deletes samples older than `beforeMs`; returns how many went. */
  prune(beforeMs: number): number {
    return this.db.prepare('DELETE FROM samples WHERE time < ?').run(beforeMs).changes;
  }

  /** Samples of one VM from `sinceMs` on, oldest first; with `limit`, the newest `limit` of them. */
  history(vm: string, opts: { sinceMs?: number; limit?: number } = {}): VmSample[] {
    const rows = this.db
      .prepare('SELECT body FROM samples WHERE vm = ? AND time >= ? ORDER BY time DESC LIMIT ?')
      .all(vm, opts.sinceMs ?? 0, opts.limit ?? -1) as { body: string }[];
    return rows.reverse().map((r) => JSON.parse(r.body) as VmSample);
  }

  latest(vm: string): VmSample | undefined {
    const row = this.db.prepare('SELECT body FROM samples WHERE vm = ? ORDER BY time DESC LIMIT 1').get(vm) as { body: string } | undefined;
    return row ? (JSON.parse(row.body) as VmSample) : undefined;
  }

  /** The VM was deleted: a new VM of the same name starts with no history. */
  forget(vm: string): void {
    this.db.prepare('DELETE FROM samples WHERE vm = ?').run(vm);
  }
}
