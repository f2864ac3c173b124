import { LodgeError } from '@lodge/api';
import type { DiskControl, GuestResourcesControl } from './runtime-controls.js';

// TODO(issue 5): temporary parts while the balloon and disk modules are built; none may remain at the end.
const refuse = (what: string) => (): Promise<never> => Promise.reject(new LodgeError('host_unsupported', `${what} is not built yet`));

export const pendingGuest = (): GuestResourcesControl => ({
  setMemory: refuse('the memory balloon'),
  setVcpus: refuse('vCPU hot-add'),
  bounds: refuse('bounds'),
  usage: async () => ({ vcpus: 0 }),
  dispose: () => undefined,
});

export const pendingDisks = (): DiskControl => ({
  attach: refuse('disk hot-plug'),
  detach: refuse('disk hot-unplug'),
  resize: refuse('live disk resize'),
  throttle: refuse('disk I/O limits'),
  usage: async () => [],
});
