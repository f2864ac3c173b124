import { describe, expect, it } from 'vitest';
import { VmSpec } from '@lodge/api';
import { applyUpdate, checkCpuLimits } from './spec-update.js';
import { KeyedLock } from './keyed-lock.js';

const GiB = 2 ** 30;
const base = VmSpec.parse({ name: 'a', image: 'micro', cpus: 1, memory: GiB, disk: 4 * GiB, machine: 'q35', cpuMax: 50, diskIops: 100 });

describe('applyUpdate', () => {
  it('changes the given fields, clears limits given null, and lists what really changed in apply order', () => {
    const { spec, changed } = applyUpdate(base, { disk: 8 * GiB, cpuPriority: 'low', cpuMax: null, cpus: 1 });
    expect(spec).toMatchObject({ cpuWeight: 25, disk: 8 * GiB, cpus: 1 });
    expect(spec).not.toHaveProperty('cpuMax');
    expect(spec.diskIops).toBe(100);
    expect(changed).toEqual(['cpuWeight', 'cpuMax', 'disk']);
  });
  it('refuses to shrink the disk', () => {
    expect(() => applyUpdate(base, { disk: GiB })).toThrow(/cannot shrink: it is 4G, asked 1G/);
  });
  it('raises maxCpus with cpus so the spec stays valid', () => {
    expect(applyUpdate({ ...base, maxCpus: 2 }, { cpus: 3 }).spec.maxCpus).toBe(3);
  });
});

describe('checkCpuLimits', () => {
  it('refuses CPUs the host lacks and quotas above the host, naming the host CPUs', () => {
    expect(() => checkCpuLimits({ name: 'a', cpuPin: '0,7' }, 2)).toThrow(/no such CPU.*"0,7"/);
    expect(() => checkCpuLimits({ name: 'a', cpuMax: 300 }, 2)).toThrow(/more than the host's 200%/);
    expect(() => checkCpuLimits({ name: 'a', cpuPin: '0-1', cpuMax: 200 }, 2)).not.toThrow();
  });
});

describe('KeyedLock', () => {
  it('runs tasks of one key in order, others alongside, and survives a failure', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const step = (name: string, ms: number, fail = false) => () =>
      new Promise<string>((res, rej) => setTimeout(() => (log.push(name), fail ? rej(new Error(name)) : res(name)), ms));
    const a1 = lock.run('a', step('a1', 30, true));
    const a2 = lock.run('a', step('a2', 1));
    const b1 = lock.run('b', step('b1', 5));
    await expect(a1).rejects.toThrow('a1');
    await Promise.all([a2, b1]);
    expect(log).toEqual(['b1', 'a1', 'a2']);
  });
});
