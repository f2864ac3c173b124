import { z } from 'zod';
import { AgentStateSchema, GuestViaSchema, VmState } from './vm-state.js';
import { Operation } from './operation.js';
import { VmSample } from './metrics.js';

export const LodgeEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('vm.created'), vm: z.string() }),
  z.object({ type: z.literal('vm.deleted'), vm: z.string() }),
  /** Its spec changed (lodge set, lodge disk); `fields` names what. */
  z.object({ type: z.literal('vm.updated'), vm: z.string(), fields: z.array(z.string()) }),
  z.object({
    type: z.literal('vm.state'),
    vm: z.string(),
    from: VmState,
    to: VmState,
    reason: z.string().optional(),
  }),
  z.object({ type: z.literal('operation'), operation: Operation }),
  /** The guest agent became ready, went silent, or reconnects; `via` names the channel. */
  z.object({
    type: z.literal('vm.guest'),
    vm: z.string(),
    state: AgentStateSchema,
    via: GuestViaSchema.optional(),
    version: z.string().optional(),
  }),
  z.object({ type: z.literal('vm.metrics'), vm: z.string(), sample: VmSample }),
  /** A VM hit a host limit: e.g. its cgroup memory limit (the kernel reclaimed or OOM-killed inside it). */
  z.object({ type: z.literal('vm.limit'), vm: z.string(), resource: z.enum(['memory', 'cpu', 'disk']), message: z.string() }),
  /** First-boot provisioning in the guest: one step started, finished, was skipped or failed (output tail on failure). */
  z.object({
    type: z.literal('vm.provision'),
    vm: z.string(),
    step: z.enum(['seed', 'hostname', 'users', 'files', 'packages', 'script', 'done']),
    name: z.string().optional(),
    status: z.enum(['started', 'ok', 'skipped', 'failed']),
    message: z.string().optional(),
    output: z.string().optional(),
  }),
]);
export type LodgeEventBody = z.infer<typeof LodgeEvent>;

/** An event as stored and streamed: a body plus its sequence number and time. */
export type LodgeEventRecord = LodgeEventBody & { id: number; time: string };
