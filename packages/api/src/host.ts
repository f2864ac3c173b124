import { z } from 'zod';
import { HostUsage } from './metrics.js';

export const Accelerator = z.enum(['kvm', 'tcg']);
export type Accelerator = z.infer<typeof Accelerator>;

/** Whether VMs get a vsock device: /dev/vhost-vsock opened read-write once per daemon start. */
export const VsockSupport = z.object({ available: z.boolean(), note: z.string() });
export type VsockSupport = z.infer<typeof VsockSupport>;

export const HostInfo = z.object({
  cpus: z.object({ count: z.number(), model: z.string() }),
  memory: z.object({ totalBytes: z.number(), availableBytes: z.number() }),
  disk: z.object({ path: z.string(), freeBytes: z.number(), totalBytes: z.number() }),
  qemu: z.object({
    system: z.string().optional(),
    img: z.string().optional(),
    version: z.string().optional(),
    note: z.string().optional(),
  }),
  cgroup: z.object({
    version: z.enum(['v1', 'v2', 'none']),
    controllers: z.array(z.string()),
    writable: z.boolean(),
    note: z.string().optional(),
    /** How CPU priority is applied: per-VM cgroups, or `nice` on QEMU where cgroups are not writable. */
    mode: z.enum(['cgroup', 'nice']).optional(),
  }),
  accelerator: Accelerator,
  /** Why this accelerator: e.g. why KVM was not usable. */
  acceleratorNote: z.string(),
  /** vhost-vsock on this host; absent from daemons before it was probed. */
  vsock: VsockSupport.optional(),
  /** When the probe ran and for which host boot; results are cached per boot. */
  probedAt: z.string(),
  bootId: z.string(),
});
export type HostInfo = z.infer<typeof HostInfo>;

export const Capacity = z.object({
  memory: z.object({ totalBytes: z.number(), committedBytes: z.number(), limitBytes: z.number(), overcommit: z.number() }),
  cpus: z.object({ total: z.number(), committed: z.number(), limit: z.number(), overcommit: z.number() }),
  vms: z.object({ total: z.number(), active: z.number() }),
});
export type Capacity = z.infer<typeof Capacity>;

export const HostReport = HostInfo.extend({ capacity: Capacity, usage: HostUsage.optional() });
export type HostReport = z.infer<typeof HostReport>;
