import { formatSize } from '@lodge/api';
import type { MemoryCounters, VmCgroup } from '../cgroup/vm-cgroup.js';
import type { CpuLimits, LimitHit } from '../ports/vm-driver.js';
import { processCpuNs } from './process-usage.js';
import type { CpuControl } from './runtime-controls.js';

/** How often the memory counters are read while someone listens for limit hits. */
export const LIMIT_POLL_MS = 3000;

/** The CpuControl of a QEMU in its VM group: live CPU limits, CPU time, and memory-limit hits as they happen. */
export class CgroupCpuControl implements CpuControl {
  private readonly listeners = new Set<(hit: LimitHit) => void>();
  private timer: NodeJS.Timeout | undefined;
  /** Counters already reported (at creation: what the group had before we watched it). */
  private last: Promise<MemoryCounters | undefined>;

  private constructor(
    private readonly group: VmCgroup,
    private readonly pid: number,
    private readonly pollMs: number,
    baseline: MemoryCounters | undefined,
  ) {
    this.last = Promise.resolve(baseline);
  }

  /** Takes the group's counters as they are now as the baseline: only what happens from here on is reported. */
  static async open(group: VmCgroup, pid: number, pollMs = LIMIT_POLL_MS): Promise<CgroupCpuControl> {
    return new CgroupCpuControl(group, pid, pollMs, await group.memoryCounters().catch(() => undefined));
  }

  setLimits = (limits: CpuLimits): Promise<void> => this.group.setCpu(limits);

  async usage(): Promise<{ cpuNs: number; memoryLimitBytes?: number }> {
    const [cpuNs, memoryLimitBytes] = await Promise.all([this.group.cpuNs().catch(() => undefined), this.group.memoryLimit().catch(() => undefined)]);
    return { cpuNs: cpuNs ?? (await processCpuNs(this.pid)), memoryLimitBytes };
  }

  onLimit(listener: (hit: LimitHit) => void): () => void {
    this.listeners.add(listener);
    this.timer ??= setInterval(() => void this.poll(), this.pollMs).unref();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stopPolling();
    };
  }

  async dispose(): Promise<{ oomKilled: boolean }> {
    this.stopPolling();
    const [before, now] = await Promise.all([this.last, this.group.memoryCounters().catch(() => undefined)]);
    await this.group.remove();
    return { oomKilled: now !== undefined && now.oomKills > (before?.oomKills ?? 0) };
  }

  private stopPolling(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reports what grew since the last poll: reaching the limit (the kernel reclaimed), or an OOM kill. */
  private async poll(): Promise<void> {
    const [before, now, limit] = await Promise.all([this.last, this.group.memoryCounters().catch(() => undefined), this.group.memoryLimit().catch(() => undefined)]);
    if (now === undefined || before === undefined) return void (this.last = Promise.resolve(now ?? before));
    this.last = Promise.resolve(now);
    const of = limit === undefined ? 'its host memory limit' : `its host memory limit of ${formatSize(limit)} (guest RAM plus QEMU's own)`;
    const hits = now.limitHits - before.limitHits;
    const kills = now.oomKills - before.oomKills;
    const message = kills > 0
      ? `QEMU ran out of ${of}: the kernel's OOM killer killed it`
      : hits > 0
        ? `QEMU reached ${of} ${hits} time${hits === 1 ? '' : 's'} in the last ${this.pollMs / 1000} s; the kernel reclaims its memory, and kills it if that is not enough`
        : undefined;
    if (message !== undefined) for (const l of this.listeners) l({ resource: 'memory', message });
  }
}
