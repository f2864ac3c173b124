import { LodgeError } from '@lodge/api';
import type { CpuControl, GuestResourcesControl } from './runtime-controls.js';
import { processCpuNs } from './process-usage.js';

// TODO(issue 5): temporary parts while the cgroup and balloon modules are built; none may remain at the end.
const refuse = (what: string) => (): Promise<never> => Promise.reject(new LodgeError('host_unsupported', `${what} is not built yet`));

export const pendingCpu = (pid: number): CpuControl => ({
  setLimits: refuse('CPU limits'),
  usage: async () => ({ cpuNs: await processCpuNs(pid) }),
  onLimit: () => () => undefined,
  dispose: async () => ({ oomKilled: false }),
});

export const pendingGuest = (): GuestResourcesControl => ({
  setMemory: refuse('the memory balloon'),
  setVcpus: refuse('vCPU hot-add'),
  bounds: refuse('bounds'),
  usage: async () => ({ vcpus: 0 }),
  dispose: () => undefined,
});
