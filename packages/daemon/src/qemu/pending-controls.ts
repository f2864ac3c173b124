import { LodgeError } from '@lodge/api';
import type { GuestResourcesControl } from './runtime-controls.js';

// TODO(issue 5): temporary part while the balloon module is built; none may remain at the end.
const refuse = (what: string) => (): Promise<never> => Promise.reject(new LodgeError('host_unsupported', `${what} is not built yet`));

export const pendingGuest = (): GuestResourcesControl => ({
  setMemory: refuse('the memory balloon'),
  setVcpus: refuse('vCPU hot-add'),
  bounds: refuse('bounds'),
  usage: async () => ({ vcpus: 0 }),
  dispose: () => undefined,
});
