import type { DiskSpec } from '@lodge/api';
import type { CpuLimits, DiskThrottle, LimitHit, RuntimeSample } from '../ports/vm-driver.js';

// The parts a QemuSupervisor delegates live changes and sampling to; each lives in its own module and is
// built by the driver at launch and at re-attach. The supervisor disposes them in reverse order at exit.

/** The VM's cgroup (or nice): CPU weight/quota/pinning, the host memory limit, CPU time and limit hits. */
export interface CpuControl {
  setLimits(limits: CpuLimits): Promise<void>;
  usage(): Promise<{ cpuNs: number; memoryLimitBytes?: number }>;
  onLimit(listener: (hit: LimitHit) => void): () => void;
  /** After QEMU exited: removes the cgroup; says why QEMU died if the cgroup's OOM killer did it. */
  dispose(): Promise<{ oomKilled: boolean }>;
}

/** Balloon and vCPU hot-add over QMP. */
export interface GuestResourcesControl {
  setMemory(bytes: number): Promise<void>;
  setVcpus(count: number): Promise<void>;
  bounds(): Promise<{ memoryBytes: number; maxCpus: number }>;
  usage(): Promise<Pick<RuntimeSample, 'vcpus' | 'balloonBytes' | 'guestMem'>>;
  dispose(): void;
}

/** Extra disks, live resize and I/O limits over QMP. */
export interface DiskControl {
  attach(disk: DiskSpec, path: string): Promise<void>;
  detach(name: string): Promise<void>;
  resize(name: string, bytes: number): Promise<void>;
  throttle(name: string, limits: DiskThrottle): Promise<void>;
  usage(): Promise<RuntimeSample['disks']>;
}

export interface RuntimeControls {
  cpu: CpuControl;
  guest: GuestResourcesControl;
  disks: DiskControl;
}
