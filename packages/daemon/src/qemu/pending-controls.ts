import { LodgeError } from '@lodge/api';
import type { CpuControl, DiskControl } from './runtime-controls.js';
import { processCpuNs } from './process-usage.js';

// TODO(issue 5): temporary parts while the cgroup and disk modules are built; none may remain at the end.
const refuse = (what: string) => (): Promise<never> => Promise.reject(new LodgeError('host_unsupported', `${what} is not built yet`));

export const pendingCpu = (pid: number): CpuControl => ({
  setLimits: refuse('CPU limits'),
  usage: async () => ({ cpuNs: await processCpuNs(pid) }),
  onLimit: () => () => undefined,
  dispose: async () => ({ oomKilled: false }),
});

export const pendingDisks = (): DiskControl => ({
  attach: refuse('disk hot-plug'),
  detach: refuse('disk hot-unplug'),
  resize: refuse('live disk resize'),
  throttle: refuse('disk I/O limits'),
  usage: async () => [],
});
