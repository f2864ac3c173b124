import { cpus as osCpus } from 'node:os';
import { dirname, join } from 'node:path';
import { LodgeError, parseCpuList } from '@lodge/api';
import type { CpuLimits } from '../ports/vm-driver.js';
import { childGroups, makeLevels, readNumber, readValue, removeGroup, writeAll, writeValue } from './cgroup-files.js';
import { fail } from './cgroup-failure.js';
import { CFS_PERIOD_US, checkCpuLimits, quotaUs, sharesOf } from './cpu-values.js';
import type { VmCgroup, VmCgroups } from './vm-cgroup.js';

const CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'memory'] as const;
type Controller = (typeof CONTROLLERS)[number];
type Dirs = Partial<Record<Controller, string>>;

/** v1 reports "no limit" as the largest page-aligned long. */
const UNLIMITED = 2 ** 62;

/**
 * cgroup v1: one hierarchy per controller (cpu and cpuacct may share one), each VM's group under the daemon's
 * own group in each, so the limits the host put on lodged keep applying to its VMs.
 */
export function v1Cgroups(bases: Dirs, folder: string[]): VmCgroups {
  const dirsOf = (vm: string): Dirs => Object.fromEntries(Object.entries(bases).map(([c, base]) => [c, join(base, ...folder, vm)]));
  const hostCpus = async (): Promise<number[]> => {
    const list = bases.cpuset === undefined ? undefined : parseCpuList((await readValue(join(bases.cpuset, 'cpuset.cpus'))) ?? '');
    return Array.isArray(list) ? list : osCpus().map((_, i) => i);
  };
  const makeGroups = async (vm: string): Promise<Dirs> => {
    for (const [c, base] of Object.entries(bases)) {
      // A new v1 cpuset group starts with no CPUs and no memory nodes: no task could join it.
      await makeLevels(base, [...folder, vm], c === 'cpuset' ? inheritCpuset : async () => undefined);
    }
    return dirsOf(vm);
  };

  return {
    mode: 'cgroup',
    hostCpus,
    async create(vm, limits) {
      checkCpuLimits(limits.cpu, await hostCpus());
      const dirs = await makeGroups(vm).catch((err: Error) => fail(`cannot make the cgroup of "${vm}"`, err));
      const group = new V1Group(dirs, hostCpus);
      try {
        await group.setCpu(limits.cpu);
        if (dirs.memory) await writeValue(join(dirs.memory, 'memory.limit_in_bytes'), limits.memoryBytes);
      } catch (err) {
        await group.remove();
        throw err instanceof LodgeError ? err : fail(`cannot set the limits of "${vm}"`, err as Error);
      }
      return group;
    },
    open: async (vm) => new V1Group(await makeGroups(vm), hostCpus),
    async removeStale() {
      const removed = new Set<string>();
      for (const base of new Set(Object.values(bases))) {
        for (const vm of await childGroups(join(base, ...folder))) if (await removeGroup(join(base, ...folder, vm), 0)) removed.add(vm);
      }
      return [...removed];
    },
  };
}

class V1Group implements VmCgroup {
  readonly where: string;
  constructor(private readonly dirs: Dirs, private readonly hostCpus: () => Promise<number[]>) {
    this.where = dirs.cpu ?? dirs.memory ?? Object.values(dirs)[0] ?? 'cgroup v1';
  }

  async setCpu(limits: CpuLimits): Promise<void> {
    const { pin } = checkCpuLimits(limits, await this.hostCpus());
    const { cpu, cpuset } = this.dirs;
    if (!cpu) throw new LodgeError('host_unsupported', 'this host has no cgroup v1 cpu controller mounted: CPU weight and quota cannot be applied');
    if (pin !== undefined && !cpuset) throw new LodgeError('host_unsupported', 'this host has no cgroup v1 cpuset controller mounted: CPU pinning cannot be applied');
    const writes: [string, string | number][] = [
      [join(cpu, 'cpu.shares'), sharesOf(limits.weight)],
      [join(cpu, 'cpu.cfs_period_us'), CFS_PERIOD_US],
      [join(cpu, 'cpu.cfs_quota_us'), limits.maxPercent === undefined ? -1 : quotaUs(limits.maxPercent)],
    ];
    if (cpuset) writes.push([join(cpuset, 'cpuset.cpus'), pin ?? ((await readValue(join(dirname(cpuset), 'cpuset.cpus'))) || '')]);
    await writeAll(writes).catch((err: Error) => fail(`cannot change the CPU limits in ${cpu}`, err));
  }

  async addProcess(pid: number): Promise<void> {
    for (const dir of new Set(Object.values(this.dirs))) {
      await writeValue(join(dir, 'cgroup.procs'), pid).catch((err: Error) => fail(`cannot move QEMU (pid ${pid}) into ${dir}`, err));
    }
  }

  cpuNs = async (): Promise<number | undefined> => (this.dirs.cpuacct ? readNumber(join(this.dirs.cpuacct, 'cpuacct.usage')) : undefined);

  async memoryLimit(): Promise<number | undefined> {
    const limit = this.dirs.memory ? await readNumber(join(this.dirs.memory, 'memory.limit_in_bytes')) : undefined;
    return limit === undefined || limit >= UNLIMITED ? undefined : limit;
  }

  async memoryCounters(): Promise<{ limitHits: number; oomKills: number } | undefined> {
    const dir = this.dirs.memory;
    if (!dir) return undefined;
    const [limitHits, oomKills] = await Promise.all([readNumber(join(dir, 'memory.failcnt')), readNumber(join(dir, 'memory.oom_control'), 'oom_kill')]);
    return { limitHits: limitHits ?? 0, oomKills: oomKills ?? 0 };
  }

  async remove(): Promise<void> {
    for (const dir of new Set(Object.values(this.dirs))) await removeGroup(dir);
  }
}

/** Fills a group's empty cpuset from its parent's; a filled one (ours, or a pin) is left as it is. */
async function inheritCpuset(dir: string): Promise<void> {
  for (const file of ['cpuset.cpus', 'cpuset.mems']) {
    if (await readValue(join(dir, file))) continue;
    await writeValue(join(dir, file), (await readValue(join(dirname(dir), file))) ?? '');
  }
}
