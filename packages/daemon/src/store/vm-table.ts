import { VmSpec, type VmState } from '@lodge/api';
import type { Db } from './database.js';

export interface VmRecord {
  name: string;
  spec: VmSpec;
  state: VmState;
  stateReason?: string;
  pid?: number;
  /** The guest's vsock CID while it runs with a vsock device. */
  vsockCid?: number;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  name: string;
  spec: string;
  state: VmState;
  state_reason: string | null;
  pid: number | null;
  vsock_cid: number | null;
  created_at: string;
  updated_at: string;
}

/** Specs parsed per VM, by their stored text: every exec or copy looks its VM up, and zod's parse is ~0.5 ms of it. */
const parsedSpecs = new Map<string, { text: string; spec: VmSpec }>();

function parseSpec(name: string, text: string): VmSpec {
  let hit = parsedSpecs.get(name);
  if (hit?.text !== text) {
    hit = { text, spec: VmSpec.parse(JSON.parse(text)) };
    parsedSpecs.set(name, hit);
  }
  return structuredClone(hit.spec); // callers own their copy
}

function fromRow(row: Row): VmRecord {
  return {
    name: row.name,
    spec: parseSpec(row.name, row.spec),
    state: row.state,
    stateReason: row.state_reason ?? undefined,
    pid: row.pid ?? undefined,
    ...(row.vsock_cid !== null ? { vsockCid: row.vsock_cid } : {}),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The VMs table: specs and their last known state. */
export class VmTable {
  #byName: ReturnType<Db['prepare']> | undefined;

  constructor(private readonly db: Db) {}

  get(name: string): VmRecord | undefined {
    const row = (this.#byName ??= this.db.prepare('SELECT * FROM vms WHERE name = ?')).get(name) as Row | undefined;
    return row && fromRow(row);
  }

  list(): VmRecord[] {
    return (this.db.prepare('SELECT * FROM vms ORDER BY name').all() as Row[]).map(fromRow);
  }

  insert(rec: VmRecord): void {
    this.db
      .prepare('INSERT INTO vms (name, spec, state, state_reason, pid, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(rec.name, JSON.stringify(rec.spec), rec.state, rec.stateReason ?? null, rec.pid ?? null, rec.createdAt, rec.updatedAt);
  }

  /** pid: undefined keeps the recorded one (and its vsock CID), null clears both; a new pid comes with its CID. */
  setState(name: string, state: VmState, opts: { reason?: string; pid?: number | null; vsockCid?: number } = {}): void {
    const keepPid = opts.pid === undefined ? 1 : 0;
    const cid = opts.pid === null ? null : (opts.vsockCid ?? null);
    this.db
      .prepare('UPDATE vms SET state = ?, state_reason = ?, pid = CASE WHEN ? THEN pid ELSE ? END, vsock_cid = CASE WHEN ? THEN vsock_cid ELSE ? END, updated_at = ? WHERE name = ?')
      .run(state, opts.reason ?? null, keepPid, opts.pid ?? null, keepPid, cid, new Date().toISOString(), name);
  }

  setSpec(name: string, spec: VmSpec): void {
    this.db.prepare('UPDATE vms SET spec = ?, updated_at = ? WHERE name = ?').run(JSON.stringify(spec), new Date().toISOString(), name);
  }

  delete(name: string): void {
    this.db.prepare('DELETE FROM vms WHERE name = ?').run(name);
    parsedSpecs.delete(name);
  }
}
