import { describe, expect, it } from 'vitest';
import { VmSpec } from '@lodge/api';
import { admit, capacityOf, QEMU_OVERHEAD_BYTES } from './admission.js';

const GiB = 2 ** 30;
const vm = (name: string, memGiB: number, cpus = 1): VmSpec => VmSpec.parse({ name, image: 'micro', cpus, memory: memGiB * GiB, disk: GiB, machine: 'q35' });
const host = { totalBytes: 16 * GiB, availableBytes: 12 * GiB, cpus: 4 };

describe('admission', () => {
  it('accounts guest memory plus QEMU overhead and vCPUs', () => {
    const cap = capacityOf([vm('a', 2, 2), vm('b', 1)], host, { memory: 1, cpu: 2 }, 3);
    expect(cap.memory.committedBytes).toBe(3 * GiB + 2 * QEMU_OVERHEAD_BYTES);
    expect(cap.memory.limitBytes).toBe(16 * GiB);
    expect(cap.cpus).toEqual({ total: 4, committed: 3, limit: 8, overcommit: 2 });
    expect(cap.vms).toEqual({ total: 3, active: 2 });
  });

  it('admits what fits', () => {
    const cap = capacityOf([vm('a', 4)], host, { memory: 1, cpu: 4 }, 2);
    expect(() => admit(vm('b', 4), cap, host)).not.toThrow();
  });

  it('refuses memory past the overcommit limit and names the numbers', () => {
    const cap = capacityOf([vm('a', 10)], host, { memory: 1, cpu: 4 }, 2);
    expect(() => admit(vm('b', 6), cap, host)).toThrow(/not enough memory to start "b": it needs 6G \+ 256M for QEMU, 10.3G of the 16G allowed is already committed \(host 16G × memory overcommit 1\)/);
  });

  it('overcommit lets more memory be committed than the host has', () => {
    const cap = capacityOf([vm('a', 10)], host, { memory: 2, cpu: 4 }, 2);
    expect(() => admit(vm('b', 10), cap, host)).not.toThrow();
  });

  it('refuses a VM larger than what is available now', () => {
    const cap = capacityOf([], { ...host, availableBytes: GiB }, { memory: 1, cpu: 4 }, 1);
    expect(() => admit(vm('b', 2), cap, { ...host, availableBytes: GiB })).toThrow(/not enough free memory/);
  });

  it('refuses vCPUs past the cpu overcommit limit', () => {
    const cap = capacityOf([vm('a', 1, 7)], host, { memory: 1, cpu: 2 }, 2);
    expect(() => admit(vm('b', 1, 2), cap, host)).toThrow(/not enough CPUs to start "b": it needs 2 vCPU\(s\), 7 of the 8 allowed/);
  });

  it('names a live change as such', () => {
    const cap = capacityOf([vm('a', 1, 7)], host, { memory: 1, cpu: 2 }, 2);
    expect(() => admit(vm('b', 1, 2), cap, host, 'change')).toThrow(/not enough CPUs for this change of "b": it needs 2 vCPU\(s\)/);
  });
});
