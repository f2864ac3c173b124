import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VmSpec } from '@lodge/api';
import { openDatabase } from './database.js';
import { EventTable } from './event-table.js';
import { VmTable } from './vm-table.js';

const dirs: string[] = [];
function db() {
  const dir = mkdtempSync(join(tmpdir(), 'lodge-db-'));
  dirs.push(dir);
  return openDatabase(join(dir, 'lodge.db'));
}
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

const spec = VmSpec.parse({ name: 'a', image: 'micro', cpus: 1, memory: 2 ** 29, disk: 2 ** 30, machine: 'q35' });

describe('VmTable', () => {
  it('stores specs and state changes, keeping or clearing the pid', () => {
    const t = new VmTable(db());
    t.insert({ name: 'a', spec, state: 'stopped', createdAt: 'x', updatedAt: 'x' });
    t.setState('a', 'running', { pid: 42 });
    expect(t.get('a')).toMatchObject({ state: 'running', pid: 42, spec });
    t.setState('a', 'paused');
    expect(t.get('a')?.pid).toBe(42);
    t.setState('a', 'stopped', { reason: 'guest powered off', pid: null });
    expect(t.get('a')).toMatchObject({ state: 'stopped', stateReason: 'guest powered off' });
    expect(t.get('a')?.pid).toBeUndefined();
    t.delete('a');
    expect(t.list()).toEqual([]);
  });

  it('keeps the vsock CID with the pid and clears it with the pid', () => {
    const t = new VmTable(db());
    t.insert({ name: 'a', spec, state: 'stopped', createdAt: 'x', updatedAt: 'x' });
    t.setState('a', 'running', { pid: 42, vsockCid: 1234 });
    expect(t.get('a')).toMatchObject({ pid: 42, vsockCid: 1234 });
    t.setState('a', 'paused');
    expect(t.get('a')?.vsockCid).toBe(1234);
    t.setState('a', 'stopped', { pid: null });
    expect(t.get('a')?.vsockCid).toBeUndefined();
    t.setState('a', 'running', { pid: 43 }); // started again on a host without vhost-vsock
    expect(t.get('a')).toMatchObject({ pid: 43 });
    expect(t.get('a')?.vsockCid).toBeUndefined();
  });

  it('refuses a duplicate name', () => {
    const t = new VmTable(db());
    t.insert({ name: 'a', spec, state: 'stopped', createdAt: 'x', updatedAt: 'x' });
    expect(() => t.insert({ name: 'a', spec, state: 'stopped', createdAt: 'x', updatedAt: 'x' })).toThrow(/UNIQUE/);
  });
});

describe('EventTable', () => {
  it('appends with increasing ids and replays after an id, per VM', () => {
    const e = new EventTable(db());
    const a = e.append({ type: 'vm.created', vm: 'a' });
    e.append({ type: 'vm.created', vm: 'b' });
    e.append({ type: 'vm.state', vm: 'a', from: 'stopped', to: 'starting' });
    expect(e.since(0).map((r) => r.id)).toEqual([a.id, a.id + 1, a.id + 2]);
    expect(e.since(a.id, { vm: 'a' }).map((r) => r.type)).toEqual(['vm.state']);
    expect(e.lastId()).toBe(a.id + 2);
  });
});
