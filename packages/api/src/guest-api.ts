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
 * The files WebSocket: /v1/vms/:name/files?op=get|put&path=<guest path>.
 * get: server sends entry messages, each file's bytes as binary messages right after its entry, then done.
 * put: client sends the same, then {type:'end'}; server answers done (or error) and closes.
 */
export type FilesMessage =
  | ({ type: 'entry' } & FileEntry)
  | { type: 'end' }
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
