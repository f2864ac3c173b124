import { readdir } from 'node:fs/promises';
import { cpus as osCpus, setPriority } from 'node:os';
import { LodgeError } from '@lodge/api';
import type { CpuLimits } from '../ports/vm-driver.js';
import { checkCpuLimits, niceOf } from './cpu-values.js';
import type { VmCgroup, VmCgroups } from './vm-cgroup.js';

/**
 * No writable cgroups (non-root without delegation): the weight becomes QEMU's nice value; quota, pinning
 * and the memory limit cannot be applied and are refused rather than silently ignored.
 */
export function niceCgroups(why: string): VmCgroups {
  const hostCpus = async (): Promise<number[]> => osCpus().map((_, i) => i);
  const check = async (limits: CpuLimits): Promise<number> => {
    checkCpuLimits(limits, await hostCpus());
    const refused = limits.maxPercent !== undefined ? `a CPU quota (${limits.maxPercent}%)` : limits.pin !== undefined ? `CPU pinning (${limits.pin})` : undefined;
    if (refused) {
      throw new LodgeError('host_unsupported', `${refused} needs cgroups, and they are not writable here (${why})`, {
        hint: 'run lodged as root or in a delegated cgroup, or clear it (--cpu-max none, --cpu-pin none)',
      });
    }
    const nice = niceOf(limits.weight);
    if (nice < 0 && process.getuid?.() !== 0) {
      throw new LodgeError('host_unsupported', `CPU weight ${limits.weight} means nice ${nice}, and only root may raise a priority above normal`, {
        hint: 'without cgroups, give a weight of at most 100 (cpu-priority normal or low)',
      });
    }
    return nice;
  };
  return {
    mode: 'nice',
    hostCpus,
    async create(_vm, limits) {
      return new NiceGroup(await check(limits.cpu), check);
    },
    open: async () => new NiceGroup(undefined, check),
    removeStale: async () => [],
  };
}

class NiceGroup implements VmCgroup {
  readonly where = 'nice';
  private readonly pids = new Set<number>();
  constructor(private nice: number | undefined, private readonly check: (l: CpuLimits) => Promise<number>) {}

  async setCpu(limits: CpuLimits): Promise<void> {
    const nice = await this.check(limits);
    for (const pid of this.pids) await renice(pid, nice);
    this.nice = nice;
  }

  async addProcess(pid: number): Promise<void> {
    this.pids.add(pid);
    if (this.nice !== undefined) await renice(pid, this.nice);
  }

  cpuNs = async (): Promise<undefined> => undefined;
  memoryLimit = async (): Promise<undefined> => undefined;
  memoryCounters = async (): Promise<undefined> => undefined;
  remove = async (): Promise<void> => void this.pids.clear();
}

/** Linux applies a nice value per thread: every thread QEMU has made so far (its vCPUs among them). */
async function renice(pid: number, nice: number): Promise<void> {
  const tids = await readdir(`/proc/${pid}/task`).catch(() => [String(pid)]);
  for (const tid of tids) {
    try {
      setPriority(Number(tid), nice);
    } catch (err) {
      // Node reports it as ERR_SYSTEM_ERROR with the errno name in info; a thread that just ended is no failure.
      if ((err as { info?: { code?: string } }).info?.code !== 'ESRCH') throw new LodgeError('host_unsupported', `cannot set nice ${nice} on QEMU (pid ${pid}): ${(err as Error).message}`);
    }
  }
}
