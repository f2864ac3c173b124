import type { z } from 'zod';
import type { Stream } from '@lodge/api/guest';
import {
  ExecControlFromGuestSchema, ExecResultSchema, FilesControlSchema, FilesReadySchema, FilesResultSchema, GuestInfoSchema, HelloSchema,
  PublishResultSchema, TimeSetResultSchema,
} from '@lodge/api/guest-schemas';

type Op = 'exec' | 'info' | 'time.set' | 'shutdown' | 'files.get' | 'files.put' | 'bus.publish';

/** What the guest may send on a stream the host opened, by op; undefined = nothing of that kind is expected. */
const CONTROL: Partial<Record<Op, z.ZodType>> = { exec: ExecControlFromGuestSchema, 'files.get': FilesControlSchema, 'files.put': FilesReadySchema };
const FINISH: Partial<Record<Op, z.ZodType>> = {
  exec: ExecResultSchema,
  info: GuestInfoSchema,
  'time.set': TimeSetResultSchema,
  'files.get': FilesResultSchema,
  'files.put': FilesResultSchema,
  'bus.publish': PublishResultSchema,
};

function opOf(stream: Stream | undefined): string | undefined {
  const op = (stream?.request as { op?: unknown } | undefined)?.op;
  return typeof op === 'string' ? op : undefined;
}

function check(schema: z.ZodType | undefined, value: unknown, what: string): void {
  if (!schema) throw new Error(`unexpected ${what}`);
  const r = schema.safeParse(value);
  if (!r.success) throw new Error(`invalid ${what}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
}

/** The session's checkPayload for the host role: every JSON payload from the guest is schema-checked before use. */
export function checkGuestPayload(kind: 'control' | 'finish' | 'hello', stream: Stream | undefined, value: unknown): void {
  if (kind === 'hello') return check(HelloSchema, value, 'Hello');
  const op = opOf(stream) as Op | undefined;
  if (op === undefined) throw new Error(`${kind} for a stream without a known op`);
  // Guest-opened streams (even ids) are bus publishes: the guest sends only data on them.
  if (stream !== undefined && stream.id % 2 === 0) throw new Error(`unexpected ${kind} on a guest-opened stream`);
  if (kind === 'control') return check(CONTROL[op], value, `control message for ${op}`);
  // The guest answers shutdown with an empty result; it carries nothing we read.
  if (op === 'shutdown') {
    if (value === undefined || value === null || (typeof value === 'object' && !Array.isArray(value))) return;
    throw new Error('invalid finish for shutdown');
  }
  return check(FINISH[op], value, `result of ${op}`);
}
