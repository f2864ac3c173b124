// Zod schemas for what clients send on the guest endpoints (guest-api.ts has the types); the daemon validates with these.
import { z } from 'zod';
import { BASE_PAYLOAD } from './guest/contract.js';
import { FileEntrySchema } from './guest/schemas.js';
import type { ExecClientMessage, ExecStart, FilesMessage, LentFile } from './guest-api.js';

const Size = z.number().int().min(1).max(10_000);

export const ExecStartSchema = z
  .object({
    argv: z.array(z.string().max(65_536)).min(1, 'argv needs at least the program').max(4096),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment names are letters, digits and _'), z.string()).optional(),
    cwd: z.string().min(1).max(4096).optional(),
    user: z.string().min(1).max(256).optional(),
    tty: z.object({ rows: Size, cols: Size, term: z.string().min(1).max(64).optional() }).strict().optional(),
    stdin: z.boolean().optional(),
    timeoutMs: z.number().int().positive().max(7 * 24 * 3600 * 1000).optional(),
  })
  .strict()
  // The request travels in one Open frame to the guest.
  .refine((v) => Buffer.byteLength(JSON.stringify(v)) < BASE_PAYLOAD - 1024, { message: `the exec request must stay under ${BASE_PAYLOAD - 1024} bytes of JSON` }) satisfies z.ZodType<ExecStart>;

export const ExecClientMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('stdin-end') }).strict(),
  z.object({ type: z.literal('signal'), signal: z.string().regex(/^(SIG)?[A-Z0-9+-]{1,16}$/, 'a signal name like SIGINT') }).strict(),
  z.object({ type: z.literal('resize'), rows: Size, cols: Size }).strict(),
]) satisfies z.ZodType<ExecClientMessage>;

const Decimal = z.string().regex(/^\d{1,20}$/, 'a decimal number');
const LentFileSchema = z.object({ pid: z.number().int().min(1).max(2 ** 22), fd: z.number().int().min(0).max(2 ** 20), dev: Decimal, ino: Decimal }).strict() satisfies z.ZodType<LentFile>;

/** What a client may send on the files WebSocket: put: entries (a file's maybe lent), then end; get: lend or send. */
export const FilesClientMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('entry'), lent: LentFileSchema.optional() }).extend(FileEntrySchema.shape).strict(),
  z.object({ type: z.literal('end') }).strict(),
  z.object({ type: z.literal('lend'), file: LentFileSchema }).strict(),
  z.object({ type: z.literal('send') }).strict(),
]) satisfies z.ZodType<FilesMessage>;
