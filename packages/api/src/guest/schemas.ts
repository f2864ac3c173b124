// Zod schemas for everything the guest sends (docs/guest-protocol.md): the daemon checks guest JSON with these.
// The only zod import under guest/: the agent ships without zod and uses the engine and contract alone.
import { z } from 'zod';
import {
  GUEST_ERROR_CODES, INBOX_PREFIX, isTopic, MAX_MESSAGE_BYTES, TOPIC_PATTERN,
  type ExecResult, type FileEntry, type FilesControl, type FilesReady, type FilesResult, type GuestError, type GuestInfo, type Hello,
  type PublishRequest, type PublishResult, type TimeSetResult,
} from './contract.js';

const MAX_PATH = 4096;
const MAX_ITEMS = 256;
const Text = (max: number) => z.string().max(max);
const Name = (max: number) => z.string().min(1).max(max);
const Count = z.number().int().min(0);
const Bytes = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Pid = z.number().int().min(1).max(2 ** 31 - 1);
const EpochMs = z.number().min(0).max(8.64e15);
/** TOPIC_PATTERN, or a reply inbox: INBOX_PREFIX then TOPIC_PATTERN (as the agent's and daemon's buses check). */
const Topic = z
  .string()
  .max(INBOX_PREFIX.length + 128)
  .refine((t) => isTopic(t), {
    message: `a topic is a letter or digit, then up to 127 of letters, digits and _ . : / - (optionally after ${INBOX_PREFIX})`,
  });

/** Relative, `/`-separated, without empty, `.` or `..` components: what the receiver of entries may create. */
const EntryPath = z
  .string()
  .min(1)
  .max(MAX_PATH)
  .refine((p) => !p.includes('\0') && p.split('/').every((c) => c !== '' && c !== '.' && c !== '..'), {
    message: 'an entry path is relative, with no empty, "." or ".." components',
  });

export const HelloSchema = z.object({
  // Any version passes here: the engine answers another major with protocol_mismatch.
  protocol: z.number().int().min(1).max(0xffff),
  role: z.enum(['host', 'guest']),
  session: z.string().regex(/^[0-9a-f]{16}$/, 'a session is 16 hex digits'),
  agent: z.object({ version: Name(64), pid: Pid }).optional(),
  timeMs: EpochMs.optional(),
  maxPayload: z.number().int().min(1).max(0xffffffff).optional(),
  features: z.array(z.string().max(64)).max(32).optional(),
}) satisfies z.ZodType<Hello>;

export const GuestErrorSchema = z.object({
  code: z.enum(GUEST_ERROR_CODES),
  message: Text(4096),
  shellStatus: z.union([z.literal(126), z.literal(127)]).optional(),
}) satisfies z.ZodType<GuestError>;

/** The only Control the guest sends on an exec stream. */
export const ExecControlFromGuestSchema = z.object({ type: z.literal('started'), pid: Pid });

export const ExecResultSchema = z.object({
  exitCode: z.number().int().min(0).max(255).nullable(),
  signal: z.string().regex(/^[A-Z0-9+-]{1,16}$/, 'a signal name like SIGKILL').nullable(),
  timedOut: z.boolean(),
}) satisfies z.ZodType<ExecResult>;

const Load = z.number().min(0).max(1e6);
export const GuestInfoSchema = z.object({
  os: z.object({ id: Text(64), name: Text(256), version: Text(256), prettyName: Text(256) }),
  kernel: z.object({ release: Text(256), version: Text(256), machine: Text(64) }),
  hostname: Text(253),
  uptimeS: z.number().min(0).max(1e11),
  load: z.tuple([Load, Load, Load]),
  memory: z.object({ totalBytes: Bytes, availableBytes: Bytes }),
  disks: z.array(z.object({ mount: Name(MAX_PATH), fs: Name(64), totalBytes: Bytes, usedBytes: Bytes })).max(MAX_ITEMS),
  addresses: z.array(z.object({ iface: Name(64), family: z.enum(['ipv4', 'ipv6']), address: Name(64) })).max(MAX_ITEMS),
  agent: z.object({ version: Name(64), pid: Pid, node: Text(64) }),
  timeMs: EpochMs,
  net: z.object({ rxBytes: Bytes, txBytes: Bytes }).optional(),
}) satisfies z.ZodType<GuestInfo>;

export const TimeSetResultSchema = z.object({
  offsetMs: z.number().min(-8.64e15).max(8.64e15),
}) satisfies z.ZodType<TimeSetResult>;

/** A plain object (no object-level refinement) so other schemas can reuse its `.shape`. */
export const FileEntrySchema = z.object({
  path: EntryPath,
  kind: z.enum(['file', 'dir', 'symlink']),
  mode: z.number().int().min(0).max(0o7777),
  size: Bytes,
  mtimeMs: z.number().min(-8.64e15).max(8.64e15),
  target: z.string().min(1).max(MAX_PATH).refine((t) => !t.includes('\0'), 'a symlink target has no NUL').optional(),
}) satisfies z.ZodType<FileEntry>;

export const FilesControlSchema = z.object({ type: z.literal('entry'), ...FileEntrySchema.shape }) satisfies z.ZodType<FilesControl>;
/** files.put, guest → host (FEATURE_PUT_READY): send the last entry's bytes now. */
export const FilesReadySchema = z.object({ type: z.literal('ready') }).strict() satisfies z.ZodType<FilesReady>;

export const FilesResultSchema = z.object({ entries: Count, bytes: Bytes }) satisfies z.ZodType<FilesResult>;

export const PublishRequestSchema = z.object({
  op: z.literal('bus.publish'),
  topic: Topic,
  replyTo: Topic.optional(),
  size: z.number().int().min(0).max(MAX_MESSAGE_BYTES),
}) satisfies z.ZodType<PublishRequest>;

export const PublishResultSchema = z.object({ delivered: z.number().int().min(0).max(1_000_000) }) satisfies z.ZodType<PublishResult>;
