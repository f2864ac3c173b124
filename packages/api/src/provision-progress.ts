import { z } from 'zod';
import { PROVISION_RECORD_MAX_BYTES, type ProvisionDone, type ProvisionLine, type ProvisionRecord } from './guest/first-boot.js';

// The host's check of each line of the guest's PROVISION_PROGRESS_FILE: the guest is untrusted, so every field is bounded.

const text = (max: number) => z.string().max(max);
/** The line's own bound (PROVISION_RECORD_MAX_BYTES) is what limits a message: a command's message may quote its output. */
const longText = text(PROVISION_RECORD_MAX_BYTES);

export const ProvisionRecordSchema = z
  .object({
    time: text(64),
    step: z.enum(['seed', 'hostname', 'users', 'files', 'packages', 'script']),
    name: text(4096).optional(),
    status: z.enum(['started', 'ok', 'skipped', 'failed']),
    message: longText.optional(),
    output: longText.optional(),
    exitCode: z.number().int().min(-1024).max(1024).optional(),
    timedOut: z.boolean().optional(),
  })
  .strip() satisfies z.ZodType<ProvisionRecord>;

export const ProvisionDoneSchema = z
  .object({ time: text(64), done: z.literal(true), ok: z.boolean(), message: longText.optional() })
  .strip() satisfies z.ZodType<ProvisionDone>;

export const ProvisionLineSchema = z.union([ProvisionDoneSchema, ProvisionRecordSchema]);

/** `done`: the line claims to be the done line (JSON with done: true) but is malformed, so the report cannot end well. */
export type ParsedProvisionLine = { line: ProvisionLine } | { error: string; done?: true };

/** One complete line of the progress file (without its newline), checked; never throws. */
export function parseProvisionLine(raw: string): ParsedProvisionLine {
  if (Buffer.byteLength(raw) > PROVISION_RECORD_MAX_BYTES) return { error: `a progress line is over ${PROVISION_RECORD_MAX_BYTES} bytes` };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { error: `not JSON: ${JSON.stringify(raw.slice(0, 80))}` };
  }
  // The done key picks the schema, so an issue names the field at fault rather than "no union member matched".
  const done = (value as { done?: unknown } | null)?.done === true;
  const parsed = (done ? ProvisionDoneSchema : ProvisionRecordSchema).safeParse(value);
  if (!parsed.success) {
    const error = `not a progress record: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'line'}: ${i.message}`).slice(0, 3).join('; ')}`;
    return done ? { error, done: true } : { error };
  }
  return { line: parsed.data };
}
