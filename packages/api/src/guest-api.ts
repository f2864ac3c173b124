// What clients see of the guest (REST + WebSocket messages); zod-free so the CLI loads it for free.
import type { ApiError } from './error-code.js';
import type { ExecRequest, ExecResult, FileEntry, FilesResult, GuestInfo } from './guest/contract.js';

/** How the daemon reaches the guest: our agent, the QEMU guest agent (fallback), or nothing yet. */
export type GuestVia = 'lodge-agent' | 'qemu-guest-agent';
export type AgentState = 'none' | 'connecting' | 'ready' | 'gone';

/** GET /v1/vms/:name/guest */
export interface GuestStatus {
  state: AgentState;
  via?: GuestVia;
  /** Agent version, from its Hello. */
  version?: string;
  readyAt?: string;
  /** The Lodge agent's channel in use: `vsock` where the VM has it, else `virtio-serial`. */
  transport?: 'vsock' | 'virtio-serial';
  /** Live from the guest; absent when the guest cannot be reached (see `note`). */
  info?: GuestInfo;
  /** E.g. "streaming and messages need the Lodge agent" under the QEMU guest agent. */
  note?: string;
}

/** The first text message a client sends on the exec WebSocket: the guest's exec request without its op. */
export type ExecStart = Omit<ExecRequest, 'op'>;

/** Text messages on the exec WebSocket; binary messages are [channel byte][bytes] (0 stdin, 1 stdout, 2 stderr). */
export type ExecClientMessage =
  | { type: 'stdin-end' }
  | { type: 'signal'; signal: string }
  | { type: 'resize'; rows: number; cols: number };
export type ExecServerMessage =
  | { type: 'started'; pid: number; via: GuestVia; note?: string }
  | ({ type: 'exit' } & ExecResult)
  | { type: 'error'; error: ApiError };

/**
 * A file the client has open, lent to lodged on the same host: lodged opens /proc/<pid>/fd/<fd> itself and uses it
 * only if its device and inode (decimal strings: they can pass 2^53) are these. The client keeps every check on its
 * paths; only the bytes skip the socket, so a large copy costs one Node process instead of two.
 */
export interface LentFile {
  pid: number;
  fd: number;
  dev: string;
  ino: string;
}

/** The smallest file a client asks lodged to write into a lent file (get): below it the round trip costs more. */
export const LEND_MIN_BYTES = 1024 * 1024;

/**
 * The files WebSocket: /v1/vms/:name/files?op=get|put&path=<guest path>[&lend=1].
 * get: server sends entry messages, each file's bytes as binary messages right after its entry, then done.
 * put: client sends the same, then {type:'end'}; server answers done (or error) and closes.
 * Lent files (unix socket only): a put entry may carry `lent`, and the client sends no bytes for it: lodged reads
 * them, says `opened` once it holds its own handle (the client may close its own), then `progress` while it reads.
 * A get with lend=1 waits, after each file entry of LEND_MIN_BYTES or more, for the client's `lend` (lodged writes
 * the bytes into that file, with `progress`, then says `written`) or `send` (the bytes come as binary messages).
 */
export type FilesMessage =
  | ({ type: 'entry'; lent?: LentFile } & FileEntry)
  | { type: 'end' }
  | { type: 'lend'; file: LentFile }
  | { type: 'send' }
  | { type: 'opened'; path: string }
  | { type: 'progress'; bytes: number }
  | { type: 'written'; path: string }
  | ({ type: 'done' } & FilesResult)
  | { type: 'error'; error: ApiError };

/** A bus message as subscribers receive it on /v1/vms/:name/bus/:topic (WebSocket, text). */
export interface BusMessage {
  topic: string;
  replyTo?: string;
  /** Base64 of the body. */
  data: string;
}
/** POST /v1/vms/:name/bus/:topic (body: the raw message) answers this; with ?request=1 it answers the reply's raw body. */
export interface PublishReceipt {
  delivered: number;
}
