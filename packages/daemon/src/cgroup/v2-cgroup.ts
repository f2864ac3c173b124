import { mkdir } from 'node:fs/promises';
import { cpus as osCpus } from 'node:os';
import { join } from 'node:path';
import { LodgeError, parseCpuList } from '@lodge/api';
import type { CpuLimits } from '../ports/vm-driver.js';
import { childGroups, readNumber, readValue, removeGroup, writeAll, writeValue } from './cgroup-files.js';
import { fail } from './cgroup-failure.js';
import { CFS_PERIOD_US, checkCpuLimits, quotaUs } from './cpu-values.js';
import type { MemoryCounters, VmCgroup, VmCgroups } from './vm-cgroup.js';

const WANTED = ['cpu', 'cpuset', 'memory'];

/** memory.high sits this fraction of memory.max below it: the kernel reclaims and throttles there before it kills. */
export const MEMORY_HIGH_GAP = 1 / 16;

/** cgroup v2: one tree; controllers are handed down level by level through cgroup.subtree_control. */
export function v2Cgroups(base: string, folder: string[]): VmCgroups {
  const hostCpus = async (): Promise<number[]> => {
    const list = parseCpuList((await readValue(join(base, 'cpuset.cpus.effective'))) ?? '');
    return Array.isArray(list) ? list : osCpus().map((_, i) => i);
  };
  const makeGroup = async (vm: string): Promise<string> => {
    let dir = base;
    for (const part of [...folder, vm]) {
      await enableControllers(dir, dir === base);
      dir = join(dir, part);
      await mkdir(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'EEXIST' ? undefined : Promise.reject(err)));
    }
    return dir;
  };
  return {
    mode: 'cgroup',
    hostCpus,
    async create(vm, limits) {
      checkCpuLimits(limits.cpu, await hostCpus());
      const group = new V2Group(await makeGroup(vm).catch((err: Error) => fail(`cannot make the cgroup of "${vm}"`, err)), hostCpus);
      try {
        await group.setCpu(limits.cpu);
        await writeValue(join(group.where, 'memory.max'), limits.memoryBytes);
        await writeValue(join(group.where, 'memory.high'), Math.floor(limits.memoryBytes * (1 - MEMORY_HIGH_GAP)));
      } catch (err) {
        await group.remove();
        throw err instanceof LodgeError ? err : fail(`cannot set the limits of "${vm}"`, err as Error);
      }
      return group;
    },
    open: async (vm) => new V2Group(await makeGroup(vm), hostCpus),
    async removeStale() {
      const removed: string[] = [];
      for (const vm of await childGroups(join(base, ...folder))) if (await removeGroup(join(base, ...folder, vm), 0)) removed.push(vm);
      return removed;
    },
  };
}

/**
 * Hands cpu, cpuset and memory down from dir. v2 refuses that (EBUSY) in a group that holds processes, so
 * lodged first moves itself into a leaf of its own group ("lodged") when it is the one there.
 */
async function enableControllers(dir: string, isBase: boolean): Promise<void> {
  const available = ((await readValue(join(dir, 'cgroup.controllers'))) ?? '').split(/\s+/);
  const wanted = WANTED.filter((c) => available.includes(c)).map((c) => `+${c}`).join(' ');
  if (wanted === '') return;
  const write = (): Promise<void> => writeValue(join(dir, 'cgroup.subtree_control'), wanted);
  await write().catch(async (err: NodeJS.ErrnoException) => {
    if (!isBase || err.code !== 'EBUSY') throw err;
    await mkdir(join(dir, 'lodged')).catch(() => undefined);
    await writeValue(join(dir, 'lodged', 'cgroup.procs'), process.pid);
    await write();
  });
}

class V2Group implements VmCgroup {
  constructor(readonly where: string, private readonly hostCpus: () => Promise<number[]>) {}

  async setCpu(limits: CpuLimits): Promise<void> {
    const { pin } = checkCpuLimits(limits, await this.hostCpus());
    const quota = limits.maxPercent === undefined ? 'max' : quotaUs(limits.maxPercent);
    await writeAll([
      [join(this.where, 'cpu.weight'), limits.weight],
      [join(this.where, 'cpu.max'), `${quota} ${CFS_PERIOD_US}`],
      // Empty: the parent's CPUs.
      [join(this.where, 'cpuset.cpus'), pin ?? ''],
    ]).catch((err: Error) => fail(`cannot change the CPU limits in ${this.where}`, err));
  }

  addProcess = (pid: number): Promise<void> =>
    writeValue(join(this.where, 'cgroup.procs'), pid).catch((err: Error) => fail(`cannot move QEMU (pid ${pid}) into ${this.where}`, err));

  async cpuNs(): Promise<number | undefined> {
    const us = await readNumber(join(this.where, 'cpu.stat'), 'usage_usec');
    return us === undefined ? undefined : us * 1000;
  }

  async memoryLimit(): Promise<number | undefined> {
    return readNumber(join(this.where, 'memory.max')); // "max" is not a number: no limit
  }

  async memoryCounters(): Promise<MemoryCounters | undefined> {
    const events = join(this.where, 'memory.events');
    const [high, max, oomKills] = await Promise.all([readNumber(events, 'high'), readNumber(events, 'max'), readNumber(events, 'oom_kill')]);
    if (high === undefined && max === undefined) return undefined;
    return { limitHits: (high ?? 0) + (max ?? 0), oomKills: oomKills ?? 0 };
  }

  remove = async (): Promise<void> => void (await removeGroup(this.where));
}
