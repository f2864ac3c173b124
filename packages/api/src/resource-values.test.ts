import { describe, expect, it } from 'vitest';
import { formatCpuList, parseCpuList, parsePercent } from './resource-values.js';
import { specFromCreate, VmCreateRequest, VmSpec, VmUpdateRequest } from './vm-spec.js';

describe('CPU lists', () => {
  it('parses ranges and singles, sorted and unique, and formats them back', () => {
    expect(parseCpuList('3,0-1,1')).toEqual([0, 1, 3]);
    expect(formatCpuList([3, 0, 1, 5, 6, 7])).toBe('0-1,3,5-7');
    expect(formatCpuList(parseCpuList(' 2 - 4 ') as number[])).toBe('2-4');
  });
  it.each(['', 'a', '1-', '3-1', '1,,2', '5000'])('refuses %j with a message', (text) => {
    expect(typeof parseCpuList(text)).toBe('string');
  });
});

describe('percentages', () => {
  it('takes "150%", "50" and numbers; refuses words', () => {
    expect(parsePercent('150%')).toBe(150);
    expect(parsePercent('50')).toBe(50);
    expect(parsePercent(12.5)).toBe(12.5);
    expect(parsePercent('half')).toMatch(/not a percentage/);
  });
});

describe('resource fields of the spec', () => {
  it('resolves a priority preset to a weight and normalises pin and quota', () => {
    const spec = specFromCreate(VmCreateRequest.parse({ name: 'a', cpuPriority: 'high', cpuMax: '150%', cpuPin: '1,0', diskBps: '50M' }));
    expect(spec).toMatchObject({ cpuWeight: 400, cpuMax: 150, cpuPin: '0-1', diskBps: 50 * 2 ** 20, disks: [] });
    expect(spec).not.toHaveProperty('cpuPriority');
  });
  it('refuses out-of-range values and both a priority and a weight', () => {
    for (const bad of [{ cpuWeight: 0 }, { cpuWeight: 10_001 }, { cpuMax: '0%' }, { cpuPin: 'x' }, { cpuPriority: 'max' }, { cpuPriority: 'low', cpuWeight: 5 }, { cpus: 2, maxCpus: 1 }]) {
      expect(VmCreateRequest.safeParse({ name: 'a', ...bad }).success, JSON.stringify(bad)).toBe(false);
    }
  });
  it('reads a record written before the resource fields existed, with defaults', () => {
    expect(VmSpec.parse({ name: 'a', image: 'micro', cpus: 1, memory: 1, disk: 1, machine: 'q35' })).toMatchObject({ cpuWeight: 100, disks: [] });
  });
  it('an update needs at least one field and may clear limits with null', () => {
    expect(VmUpdateRequest.safeParse({}).success).toBe(false);
    expect(VmUpdateRequest.parse({ cpuMax: null, cpuPin: null })).toEqual({ cpuMax: null, cpuPin: null });
    expect(VmUpdateRequest.safeParse({ name: 'b' }).success).toBe(false);
  });
});
