// The guest protocol's shape, shared by the daemon and the agent (docs/guest-protocol.md); no zod here.

export const PROTOCOL_VERSION = 1;
/** The virtio-serial port name (guest: /dev/virtio-ports/<name>). */
export const AGENT_PORT_NAME = 'org.lodge.agent.0';
/** The QEMU guest agent's conventional port name, used for the fallback. */
export const QGA_PORT_NAME = 'org.qemu.guest_agent.0';
/** The agent's AF_VSOCK port, where the host has vhost-vsock and gave the VM a vsock device. */
export const AGENT_VSOCK_PORT = 7070;
/** Which byte stream a session runs on. */
export type AgentTransport = 'vsock' | 'virtio-serial';

export const FRAME_MAGIC = 0x4c47;
export const HEADER_SIZE = 12;
/** The largest payload a parser accepts (the bound on what one frame can make an end buffer). */
export const MAX_PAYLOAD = 256 * 1024;
/** What every peer accepts, protocol 1 agents before `maxPayload` included: JSON frames stay under it, and Data to a
 * peer whose Hello has no `maxPayload`. */
export const BASE_PAYLOAD = 65536;
export const INITIAL_WINDOW = 1024 * 1024;
/** Extra credit a bulk receiver grants with a Window right after a copy starts (files.get ch 1 by the host, files.put
 * ch 0 by the agent): INITIAL_WINDOW stays what both ends assume, a deeper pipeline is the receiver's to give. */
export const BULK_EXTRA_WINDOW = 7 * 1024 * 1024;
/** Hello `features`: the agent answers a files.put entry of a file of PUT_READY_BYTES or more with Control
 * `{type:'ready'}` once it can take the file's bytes, and the host sends them only then. */
export const FEATURE_PUT_READY = 'files.put.ready';
export const PUT_READY_BYTES = 1024 * 1024;
export const MAX_GUEST_STREAMS = 16;
export const MAX_MESSAGE_BYTES = 1024 * 1024;
export const TOPIC_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$/;
export const INBOX_PREFIX = '_inbox.';

/** A topic: TOPIC_PATTERN, or a reply inbox (INBOX_PREFIX then TOPIC_PATTERN); the one check every end uses. */
export function isTopic(topic: unknown): topic is string {
  if (typeof topic !== 'string') return false;
  return TOPIC_PATTERN.test(topic.startsWith(INBOX_PREFIX) ? topic.slice(INBOX_PREFIX.length) : topic);
}

export const FrameKind = {
  Hello: 1,
  HelloAck: 2,
  Open: 3,
  Control: 4,
  Data: 5,
  Window: 6,
  Close: 7,
  Finish: 8,
  Reset: 9,
  Ping: 10,
  Pong: 11,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export const Channel = { Input: 0, Output: 1, Error: 2 } as const;
export type Channel = (typeof Channel)[keyof typeof Channel];

export interface Frame {
  kind: FrameKind;
  flags: number;
  stream: number;
  payload: Buffer;
}

export type Role = 'host' | 'guest';

export interface Hello {
  protocol: number;
  role: Role;
  session: string;
  agent?: { version: string; pid: number };
  timeMs?: number;
  /** The largest Data payload this end accepts (BASE_PAYLOAD..MAX_PAYLOAD); absent = BASE_PAYLOAD. */
  maxPayload?: number;
  /** What this end does beyond the protocol version (e.g. FEATURE_PUT_READY); absent = none. */
  features?: string[];
}
export type HelloAck = Hello;

export const GUEST_ERROR_CODES = [
  'protocol_error', 'protocol_mismatch', 'flow_control', 'channel_reset', 'busy',
  'not_found', 'permission_denied', 'invalid_argument', 'timeout', 'cancelled', 'internal',
] as const;
export type GuestErrorCode = (typeof GUEST_ERROR_CODES)[number];
export interface GuestError {
  code: GuestErrorCode;
  message: string;
  /** Set when an exec's program could not be started: what a shell exits with then (127 not found, 126 not runnable). */
  shellStatus?: ShellStatus;
}
export type ShellStatus = 126 | 127;
export const isShellStatus = (value: unknown): value is ShellStatus => value === 126 || value === 127;

// ---- operations ----

export interface ExecRequest {
  op: 'exec';
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
  user?: string;
  tty?: { rows: number; cols: number; term?: string };
  /** Whether stdin is sent (else the guest process gets /dev/null). */
  stdin?: boolean;
  timeoutMs?: number;
}
export type ExecControl =
  | { type: 'started'; pid: number }
  | { type: 'signal'; signal: string }
  | { type: 'resize'; rows: number; cols: number };
export interface ExecResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
}

export interface GuestInfo {
  os: { id: string; name: string; version: string; prettyName: string };
  kernel: { release: string; version: string; machine: string };
  hostname: string;
  uptimeS: number;
  load: [number, number, number];
  memory: { totalBytes: number; availableBytes: number };
  disks: { mount: string; fs: string; totalBytes: number; usedBytes: number }[];
  addresses: { iface: string; family: 'ipv4' | 'ipv6'; address: string }[];
  agent: { version: string; pid: number; node: string };
  timeMs: number;
  /** Bytes through the guest's network interfaces (loopback left out) since it booted; older agents leave it out. */
  net?: { rxBytes: number; txBytes: number };
}
export interface InfoRequest { op: 'info' }
export interface TimeSetRequest { op: 'time.set'; epochMs: number }
export interface TimeSetResult { offsetMs: number }
export interface ShutdownRequest { op: 'shutdown'; action: 'poweroff' | 'reboot' }

export interface FileEntry {
  path: string;
  kind: 'file' | 'dir' | 'symlink';
  mode: number;
  size: number;
  mtimeMs: number;
  target?: string;
}
export interface FilesGetRequest { op: 'files.get'; path: string }
export interface FilesPutRequest { op: 'files.put'; path: string }
export type FilesControl = { type: 'entry' } & FileEntry;
/** files.put, guest → host: the file of the last entry is open, send its bytes (FEATURE_PUT_READY). */
export interface FilesReady { type: 'ready' }
export interface FilesResult { entries: number; bytes: number }

export interface PublishRequest { op: 'bus.publish'; topic: string; replyTo?: string; size: number }
export interface PublishResult { delivered: number }

export type OpenRequest =
  | ExecRequest | InfoRequest | TimeSetRequest | ShutdownRequest
  | FilesGetRequest | FilesPutRequest | PublishRequest;

// ---- the session engine (implemented in session.ts, used by both ends) ----

export interface SessionOptions {
  role: Role;
  /**
   * Sends bytes to the transport; returns false when the transport wants the caller to wait for drain().
   * With `writeCallbacks`, calls `written` once the bytes left the buffer (written, or dropped with the connection).
   */
  write(bytes: Buffer, written?: () => void): boolean;
  /** write() calls `written`: Data is then sent from the writer's own buffers (no copy), released as they go out. */
  writeCallbacks?: boolean;
  /** Features announced in our Hello/HelloAck. */
  features?: string[];
  /** Extra fields for our Hello/HelloAck (the agent puts its version here). */
  agent?: { version: string; pid: number };
  /** The peer opened a stream; `request` is parsed JSON, not yet schema-checked (the caller checks it). */
  onOpen(stream: Stream, request: unknown): void;
  /** Handshake done (also after each resync). */
  onReady?(peer: Hello): void;
  /** The session was reset (resync, peer restart, transport lost); every stream has already failed. */
  onReset?(reason: GuestError): void;
  /** Bytes dropped while hunting or at a framing error: for logs and counters. */
  onGarbage?(bytes: number, reason: string): void;
  /** Checks a control/finish JSON payload from the peer; throwing resets the stream with protocol_error. */
  checkPayload?(kind: 'control' | 'finish' | 'hello', stream: Stream | undefined, value: unknown): void;
  /** Limits; defaults from the constants above. */
  maxPeerStreams?: number;
  initialWindow?: number;
  /** The largest Data payload we take, announced in Hello (BASE_PAYLOAD..MAX_PAYLOAD, default MAX_PAYLOAD). */
  maxPayload?: number;
  /** Resend interval of Hello until acknowledged (ms, default 500); 0 disables timers (unit tests). */
  helloIntervalMs?: number;
}

export interface Session {
  readonly ready: boolean;
  readonly peer: Hello | undefined;
  /** Bytes from the transport, in order. */
  receive(chunk: Buffer): void;
  /** The transport can take more bytes (after write() returned false). */
  drain(): void;
  /** (Re)starts the handshake: enters hunting, fails all streams, sends Hello until acknowledged. */
  connect(): void;
  /** The transport is gone: fails all streams with channel_reset, stops timers; connect() again later. */
  disconnect(reason: string): void;
  /** Opens a stream (only when ready; else throws a GuestError-shaped LodgeError-free Error with code). */
  open(request: OpenRequest): Stream;
  /** Sends Ping; resolves with the round-trip in ms, rejects after timeoutMs. */
  ping(timeoutMs: number): Promise<number>;
  /** Stops timers and fails streams; the session is unusable after. */
  close(): void;
}

export interface StreamEvents {
  /** A Control frame's JSON. */
  control: (message: unknown) => void;
  /** Data on a channel: call stream.consumed(channel, chunk.length) once it has been passed on. */
  data: (channel: Channel, chunk: Buffer) => void;
  /** The peer sent Close on a channel. */
  end: (channel: Channel) => void;
  /** The peer granted credit on a channel (a Window frame); `bytes` is the grant. */
  credit: (channel: Channel, bytes: number) => void;
  /** The stream is over: result from Finish, or error from Reset / session reset. Emitted once. */
  done: (outcome: { result: unknown } | { error: GuestError }) => void;
}

export interface Stream {
  readonly id: number;
  /** The request that opened it. */
  readonly request: unknown;
  readonly finished: boolean;
  on<E extends keyof StreamEvents>(event: E, listener: StreamEvents[E]): this;
  off<E extends keyof StreamEvents>(event: E, listener: StreamEvents[E]): this;
  once<E extends keyof StreamEvents>(event: E, listener: StreamEvents[E]): this;
  control(message: object): void;
  /** Sends data, split into frames within credit; resolves when all of it is handed to the transport. Rejects if the stream ends. */
  /** Resolves once the chunk is framed (copied) or, without copy, written: the caller may reuse it then. */
  write(channel: Channel, chunk: Buffer): Promise<void>;
  /** Bytes written on `channel` and still waiting for credit or the transport (0: all handed to the transport). */
  queued(channel: Channel): number;
  /** Sends Close for the channel (after all queued writes). */
  end(channel: Channel): void;
  /** Returns credit to the peer for bytes of `channel` that were passed on. */
  consumed(channel: Channel, bytes: number): void;
  /** Data the peer sent on `channel` that something else took off the wire (lodge-port): accounted as received
   * and consumed, as Data frames of that many bytes would have been; `returned` (default 0) of their credit it
   * already gave back in Windows of its own, the rest goes out in our Windows as usual. */
  sunk(channel: Channel, bytes: number, returned?: number): void;
  /** Grants the peer `bytes` more credit on `channel` now (a deeper pipeline than the initial window). */
  grant(channel: Channel, bytes: number): void;
  /** Takes the credit we have to send on `channel` (nothing must be queued there): someone else sends within it. */
  lendCredit(channel: Channel): number;
  /** Gives back credit lent and not used. */
  repay(channel: Channel, bytes: number): void;
  /** Responder: ends the stream successfully (after all queued writes). */
  finish(result?: object): void;
  /** Aborts the stream (opener: cancel; responder: error). */
  reset(error: GuestError): void;
  /** Resolves with the Finish result; rejects with an Error carrying `.code` on Reset. */
  result(): Promise<unknown>;
}
