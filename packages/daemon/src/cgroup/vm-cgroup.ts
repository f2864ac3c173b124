import type { CpuLimits } from '../ports/vm-driver.js';

/** Memory-limit counters of a VM's group, cumulative since it was made. */
export interface MemoryCounters {
  /** Times usage reached the limit (v1 memory.failcnt; v2 memory.events high + max). */
  limitHits: number;
  /** Times the cgroup's OOM killer killed a process in it. */
  oomKills: number;
}

/** One VM's group (or, without cgroups, its QEMU's nice value). */
export interface VmCgroup {
  /** Where it is, for messages: the main group folder, or "nice" */
  readonly where: string;
  /** Validates against the host's CPUs first; a refusal, or a failed write, leaves the old limits in place. */
  setCpu(limits: CpuLimits): Promise<void>;
  /** Moves a process with all its threads in (cgroup.procs), or renices every thread. */
  addProcess(pid: number): Promise<void>;
  /** Cumulative CPU time of the group; undefined where there is no group (callers use the process's own). */
  cpuNs(): Promise<number | undefined>;
  memoryLimit(): Promise<number | undefined>;
  memoryCounters(): Promise<MemoryCounters | undefined>;
  /** After its processes have exited. */
  remove(): Promise<void>;
}

/** The VM groups of one data folder, on this host's kind of cgroups. */
export interface VmCgroups {
  readonly mode: 'cgroup' | 'nice';
  /** The CPUs VMs may use: the daemon's own cpuset, else every online CPU. */
  hostCpus(): Promise<number[]>;
  /** Validates, makes the VM's group and writes its limits; memoryBytes is the host limit for the whole QEMU. */
  create(vm: string, limits: { cpu: CpuLimits; memoryBytes: number }): Promise<VmCgroup>;
  /** The group of a VM whose QEMU survived a daemon restart (made again, without limits, if it is gone). */
  open(vm: string): Promise<VmCgroup>;
  /** Removes the empty VM groups of this data folder (left by a crash); returns the VMs whose groups went. */
  removeStale(): Promise<string[]>;
}
