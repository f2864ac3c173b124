import type { LodgeEventBody, LodgeEventRecord } from '@lodge/api';
import type { Db } from './database.js';

const KEEP_EVENTS = 50_000;

/** The append-only event log, trimmed to the newest KEEP_EVENTS rows. */
export class EventTable {
  private appended = 0;

  constructor(private readonly db: Db) {}

  append(body: LodgeEventBody): LodgeEventRecord {
    const time = new Date().toISOString();
    const vm = 'vm' in body ? body.vm : body.type === 'operation' ? (body.operation.target ?? null) : null;
    const info = this.db
      .prepare('INSERT INTO events (time, type, vm, body) VALUES (?, ?, ?, ?)')
      .run(time, body.type, vm, JSON.stringify(body));
    if (++this.appended % 1000 === 0) this.db.prepare('DELETE FROM events WHERE id <= ?').run(Number(info.lastInsertRowid) - KEEP_EVENTS);
    return { ...body, id: Number(info.lastInsertRowid), time };
  }

  /** Events after `afterId`, oldest first, optionally for one VM. */
  since(afterId: number, opts: { vm?: string; limit?: number } = {}): LodgeEventRecord[] {
    const limit = opts.limit ?? 1000;
    const rows = (
      opts.vm
        ? this.db.prepare('SELECT id, time, body FROM events WHERE id > ? AND vm = ? ORDER BY id LIMIT ?').all(afterId, opts.vm, limit)
        : this.db.prepare('SELECT id, time, body FROM events WHERE id > ? ORDER BY id LIMIT ?').all(afterId, limit)
    ) as { id: number; time: string; body: string }[];
    return rows.map((r) => ({ ...(JSON.parse(r.body) as LodgeEventBody), id: r.id, time: r.time }));
  }

  lastId(): number {
    const row = this.db.prepare('SELECT MAX(id) AS id FROM events').get() as { id: number | null };
    return row.id ?? 0;
  }
}
