import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmSample } from '@lodge/api';
import { openDatabase } from './database.js';
import { SampleTable } from './sample-table.js';

const dirs: string[] = [];
function table(): SampleTable {
  const dir = mkdtempSync(join(tmpdir(), 'lodge-samples-'));
  dirs.push(dir);
  return new SampleTable(openDatabase(join(dir, 'lodge.db')));
}
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

const sample = (vm: string, ms: number, cpuSeconds = ms / 1000): VmSample => ({
  vm, time: new Date(ms).toISOString(), cpuSeconds, cpuPercent: 10, vcpus: 1, qemuRssBytes: 1,
  diskReadBytes: 0, diskWriteBytes: 0, diskReadOps: 0, diskWriteOps: 0,
});

describe('SampleTable', () => {
  it('keeps rounds and answers history oldest first, from a time, capped to the newest', () => {
    const t = table();
    for (let i = 1; i <= 5; i++) t.append([sample('a', i * 1000), sample('b', i * 1000)]);
    expect(t.history('a').map((s) => s.cpuSeconds)).toEqual([1, 2, 3, 4, 5]);
    expect(t.history('a', { sinceMs: 3000 }).map((s) => s.cpuSeconds)).toEqual([3, 4, 5]);
    expect(t.history('a', { limit: 2 }).map((s) => s.cpuSeconds)).toEqual([4, 5]);
    expect(t.latest('b')?.cpuSeconds).toBe(5);
    expect(t.latest('c')).toBeUndefined();
  });

  it('prunes what is older than the window and forgets a deleted VM', () => {
    const t = table();
    for (let i = 1; i <= 5; i++) t.append([sample('a', i * 1000), sample('b', i * 1000)]);
    expect(t.prune(3000)).toBe(4);
    expect(t.history('a').map((s) => s.cpuSeconds)).toEqual([3, 4, 5]);
    t.forget('a');
    expect(t.history('a')).toEqual([]);
    expect(t.history('b')).toHaveLength(3);
  });
});
