import { z } from 'zod';
import { PROVISION_OUTPUT_TAIL_BYTES, PROVISION_RECORD_MAX_BYTES, type ProvisionDone, type ProvisionLine, type ProvisionRecord } from './guest/first-boot.js';

// The host's check of each line of the guest's PROVISION_PROGRESS_FILE: the guest is untrusted, so every field is bounded.

const text = (max: number) => z.string().max(max);
/** Output tails are cut by bytes in the guest; JSON escapes and multi-byte characters leave room to spare. */
const outputTail = text(PROVISION_OUTPUT_TAIL_BYTES * 2);

export const ProvisionRecordSchema = z
  .object({
    time: text(64),
    step: z.enum(['seed', 'hostname', 'users', 'files', 'packages', 'script']),
    name: text(4096).optional(),
    status: z.enum(['started', 'ok', 'skipped', 'failed']),
    message: text(4096).optional(),
    output: outputTail.optional(),
    exitCode: z.number().int().min(-1024).max(1024).optional(),
    timedOut: z.boolean().optional(),
  })
  .strip() satisfies z.ZodType<ProvisionRecord>;

export const ProvisionDoneSchema = z
  .object({ time: text(64), done: z.literal(true), ok: z.boolean(), message: text(8192).optional() })
  .strip() satisfies z.ZodType<ProvisionDone>;

export const ProvisionLineSchema = z.union([ProvisionDoneSchema, ProvisionRecordSchema]);

export type ParsedProvisionLine = { line: ProvisionLine } | { error: string };

/** One complete line of the progress file (without its newline), checked; never throws. */
export function parseProvisionLine(raw: string): ParsedProvisionLine {
  if (Buffer.byteLength(raw) > PROVISION_RECORD_MAX_BYTES) return { error: `a progress line is over ${PROVISION_RECORD_MAX_BYTES} bytes` };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { error: `not JSON: ${JSON.stringify(raw.slice(0, 80))}` };
  }
  const parsed = ProvisionLineSchema.safeParse(value);
  if (!parsed.success) return { error: `not a progress record: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'line'}: ${i.message}`).slice(0, 3).join('; ')}` };
  return { line: parsed.data };
}
