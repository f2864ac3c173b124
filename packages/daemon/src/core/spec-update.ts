import { CPU_PRIORITIES, formatSize, LodgeError, type VmSpec, type VmUpdate } from '@lodge/api';

/** The spec after `lodge set`, and the fields whose value really changed (in the order they are applied). */
export function applyUpdate(spec: VmSpec, req: VmUpdate): { spec: VmSpec; changed: (keyof VmSpec)[] } {
  const next: VmSpec = { ...spec };
  const weight = req.cpuWeight ?? (req.cpuPriority ? CPU_PRIORITIES[req.cpuPriority] : undefined);
  if (weight !== undefined) next.cpuWeight = weight;
  if (req.cpus !== undefined) next.cpus = req.cpus;
  if (req.memory !== undefined) next.memory = req.memory;
  if (req.disk !== undefined) next.disk = req.disk;
  // null clears an optional limit; undefined leaves it alone.
  for (const key of ['cpuMax', 'cpuPin', 'diskIops', 'diskBps'] as const) {
    const v = req[key];
    if (v === null) delete next[key];
    else if (v !== undefined) (next as Record<string, unknown>)[key] = v;
  }
  if (next.maxCpus !== undefined && next.cpus > next.maxCpus) next.maxCpus = next.cpus;
  if (next.disk < spec.disk) {
    throw new LodgeError('invalid_argument', `the disk of "${spec.name}" cannot shrink: it is ${formatSize(spec.disk)}, asked ${formatSize(next.disk)}`, {
      hint: 'give a larger size; shrinking would cut off data the guest file system may use',
    });
  }
  const order: (keyof VmSpec)[] = ['cpuWeight', 'cpuMax', 'cpuPin', 'cpus', 'memory', 'diskIops', 'diskBps', 'disk'];
  return { spec: next, changed: order.filter((k) => next[k] !== spec[k]) };
}

/** Pinning and quotas must fit the host: CPUs it has, at most all of them. */
export function checkCpuLimits(spec: Pick<VmSpec, 'name' | 'cpuPin' | 'cpuMax'>, hostCpus: number): void {
  const hint = `this host has ${hostCpus} CPU(s), numbered 0-${hostCpus - 1}`;
  if (spec.cpuPin !== undefined) {
    const beyond = spec.cpuPin.split(',').flatMap((r) => r.split('-').map(Number)).filter((c) => c >= hostCpus);
    if (beyond.length > 0) {
      throw new LodgeError('invalid_argument', `cannot pin "${spec.name}" to CPU ${Math.max(...beyond)}: the host has no such CPU (pin "${spec.cpuPin}")`, { hint });
    }
  }
  if (spec.cpuMax !== undefined && spec.cpuMax > hostCpus * 100) {
    throw new LodgeError('invalid_argument', `a CPU quota of ${spec.cpuMax}% for "${spec.name}" is more than the host's ${hostCpus * 100}%`, { hint: `${hint}; 100% is one CPU` });
  }
}
