import { z } from 'zod';
import { VmSpec } from './vm-spec.js';

export const VmState = z.enum(['stopped', 'starting', 'running', 'paused', 'stopping', 'error']);
export type VmState = z.infer<typeof VmState>;

export const VmAction = z.enum(['start', 'stop', 'restart', 'pause', 'resume', 'delete']);
export type VmAction = z.infer<typeof VmAction>;

export const VmInfo = z.object({
  name: z.string(),
  spec: VmSpec,
  state: VmState,
  /** Why the VM is in its state, e.g. "guest powered off" or "QEMU exited with code 1: ...". */
  stateReason: z.string().optional(),
  pid: z.number().int().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  folder: z.string(),
});
export type VmInfo = z.infer<typeof VmInfo>;

export const StopOptions = z
  .object({
    force: z.boolean().default(false),
    /** Seconds to wait for the guest to power off after ACPI powerdown before QEMU is told to quit. */
    timeout: z.number().min(0).max(3600).default(30),
  })
  .strict();
export type StopOptions = z.input<typeof StopOptions>;
