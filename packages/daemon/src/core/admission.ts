import { formatSize, LodgeError, type Capacity, type VmSpec } from '@lodge/api';
import type { HostResources } from '../ports/host-resources.js';

/** QEMU's own resident memory beside guest RAM under TCG (FACTS.md: 215–240 MB per idle guest). */
export const QEMU_OVERHEAD_BYTES = 256 * 2 ** 20;

export interface Overcommit {
  memory: number;
  cpu: number;
}


export function capacityOf(active: readonly VmSpec[], host: HostResources, overcommit: Overcommit, totalVms: number): Capacity {
  return {
    memory: {
      totalBytes: host.totalBytes,
      committedBytes: active.reduce((sum, s) => sum + s.memory + QEMU_OVERHEAD_BYTES, 0),
      limitBytes: Math.floor(host.totalBytes * overcommit.memory),
      overcommit: overcommit.memory,
    },
    cpus: {
      total: host.cpus,
      committed: active.reduce((sum, s) => sum + s.cpus, 0),
      limit: Math.floor(host.cpus * overcommit.cpu),
      overcommit: overcommit.cpu,
    },
    vms: { total: totalVms, active: active.length },
  };
}

/** Refuses a start that would push committed memory or vCPUs past the overcommit limits, naming the numbers. */
export function admit(spec: VmSpec, cap: Capacity, host: HostResources, action: 'start' | 'change' = 'start'): void {
  const goal = action === 'start' ? `to start "${spec.name}"` : `for this change of "${spec.name}"`;
  const need = spec.memory + QEMU_OVERHEAD_BYTES;
  const { memory, cpus } = cap;
  const hint = 'stop another VM, give this one less (lodge create --memory/--cpus), or raise overcommit in config.yaml';
  if (memory.committedBytes + need > memory.limitBytes) {
    throw new LodgeError(
      'insufficient_resources',
      `not enough memory ${goal}: it needs ${formatSize(spec.memory)} + ${formatSize(QEMU_OVERHEAD_BYTES)} for QEMU, ` +
        `${formatSize(memory.committedBytes)} of the ${formatSize(memory.limitBytes)} allowed is already committed ` +
        `(host ${formatSize(memory.totalBytes)} × memory overcommit ${memory.overcommit})`,
      { hint, details: { needBytes: need, committedBytes: memory.committedBytes, limitBytes: memory.limitBytes } },
    );
  }
  if (need > host.availableBytes * memory.overcommit) {
    throw new LodgeError(
      'insufficient_resources',
      `not enough free memory ${goal}: it needs ${formatSize(need)}, the host has ${formatSize(host.availableBytes)} available ` +
        `(× memory overcommit ${memory.overcommit})`,
      { hint, details: { needBytes: need, availableBytes: host.availableBytes } },
    );
  }
  if (cpus.committed + spec.cpus > cpus.limit) {
    throw new LodgeError(
      'insufficient_resources',
      `not enough CPUs ${goal}: it needs ${spec.cpus} vCPU(s), ${cpus.committed} of the ${cpus.limit} allowed are committed ` +
        `(host ${cpus.total} CPUs × cpu overcommit ${cpus.overcommit})`,
      { hint, details: { need: spec.cpus, committed: cpus.committed, limit: cpus.limit } },
    );
  }
}
