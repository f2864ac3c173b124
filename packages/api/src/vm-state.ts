import { z } from 'zod';
import { VmSpec } from './vm-spec.js';

export const VmState = z.enum(['stopped', 'starting', 'running', 'paused', 'stopping', 'error']);
export type VmState = z.infer<typeof VmState>;

export const VmAction = z.enum(['start', 'stop', 'restart', 'pause', 'resume', 'delete', 'set', 'disk']);
export type VmAction = z.infer<typeof VmAction>;

/** How the daemon reaches the guest (guest-api.ts has the same unions as plain types for the zod-free clients). */
export const GuestViaSchema = z.enum(['lodge-agent', 'qemu-guest-agent']);
export const AgentStateSchema = z.enum(['none', 'connecting', 'ready', 'gone']);

/** The guest's readiness as `lodge list/info` show it; live details are at GET /v1/vms/:name/guest. */
export const VmGuest = z.object({
  state: AgentStateSchema,
  via: GuestViaSchema.optional(),
  version: z.string().optional(),
  readyAt: z.string().optional(),
  /** The Lodge agent's channel in use: vsock where the VM has it, else the virtio-serial port. */
  transport: z.enum(['vsock', 'virtio-serial']).optional(),
});
export type VmGuest = z.infer<typeof VmGuest>;

export const VmInfo = z.object({
  name: z.string(),
  spec: VmSpec,
  state: VmState,
  /** Why the VM is in its state, e.g. "guest powered off" or "QEMU exited with code 1: ...". */
  stateReason: z.string().optional(),
  pid: z.number().int().optional(),
  /** The guest's vsock CID while it runs with a vsock device (hosts with vhost-vsock). */
  vsockCid: z.number().int().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  folder: z.string(),
  /** Present while the VM runs. */
  guest: VmGuest.optional(),
  /**
   * QEMU's QMP monitor while QEMU runs: `unreachable` while another program holds the VM's qmp.sock (QEMU serves one
   * client) or QEMU does not answer there; pause, resume, stop without the agent and live changes fail meanwhile.
   */
  monitor: z.enum(['connected', 'unreachable']).optional(),
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

export const StartOptions = z
  .object({
    /** Whether the start operation waits for the guest agent before it succeeds. */
    wait: z.boolean().default(true),
    /** Seconds to wait for the guest agent; a guest that does not answer leaves a warning, not a failure. */
    readyTimeout: z.number().min(0).max(3600).default(90),
  })
  .strict();
export type StartOptions = z.input<typeof StartOptions>;
