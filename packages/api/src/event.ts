import { z } from 'zod';
import { AgentStateSchema, GuestViaSchema, VmState } from './vm-state.js';
import { Operation } from './operation.js';

export const LodgeEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('vm.created'), vm: z.string() }),
  z.object({ type: z.literal('vm.deleted'), vm: z.string() }),
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
]);
export type LodgeEventBody = z.infer<typeof LodgeEvent>;

/** An event as stored and streamed: a body plus its sequence number and time. */
export type LodgeEventRecord = LodgeEventBody & { id: number; time: string };
