import type { AgentTransport, ExecResult, FileEntry, FilesResult, GuestInfo } from '@lodge/api/guest';
import type { AgentState, ExecStart, GuestVia } from '@lodge/api';

/** A running guest process: output arrives through the callbacks given to exec(). */
export interface GuestExecution {
  readonly pid: Promise<number>;
  /** Writes stdin; resolves when the guest has credit for more (back-pressure). */
  writeStdin(chunk: Buffer): Promise<void>;
  endStdin(): void;
  signal(name: string): void;
  resize(rows: number, cols: number): void;
  /** Settles with the exit; rejects with a LodgeError (e.g. not_found for a missing program). */
  readonly result: Promise<ExecResult>;
  /** Cancels: the guest process is killed. */
  cancel(): void;
}

export interface ExecSinks {
  /** The guest process started; called before any output, so adapters can announce it in order. */
  started?(pid: number): void;
  /** Output for channel 1 (stdout) or 2 (stderr); call `done` once the bytes are passed on, to return credit. */
  output(channel: 1 | 2, chunk: Buffer, done: () => void): void;
}

/**
 * Receives a download: entries in order, each file's bytes after its entry. Calls may come before the previous one
 * settled (the sink keeps their order, as a WebSocket's sends do); a chunk's credit returns when its call settles.
 */
export interface FilesSink {
  entry(entry: FileEntry): Promise<void>;
  data(chunk: Buffer): Promise<void>;
}

/** Produces an upload. */
export interface FilesSource {
  /** Yields entries and, after each file entry, its bytes (exactly entry.size in total). */
  [Symbol.asyncIterator](): AsyncIterator<{ entry: FileEntry } | { data: Buffer }>;
}

export interface FileRange {
  offset: number;
  maxBytes: number;
}

/** Bytes of a file from the asked offset (at most maxBytes; fewer at its end), and the file's size when read. */
export interface FileWindow {
  data: Buffer;
  size: number;
}

export interface BusDelivery {
  topic: string;
  replyTo?: string;
  body: Buffer;
}

/** One VM's guest, as the daemon talks to it: the Lodge agent, or the QEMU guest agent with fewer abilities. */
export interface GuestChannel {
  readonly via: GuestVia;
  readonly state: AgentState;
  readonly version: string | undefined;
  /** The Lodge agent's byte stream in use (vsock or the virtio-serial port); undefined for the QEMU guest agent. */
  readonly transport?: AgentTransport;
  /** Lodge agent: everything; QGA: exec (buffered), files (single files), info. */
  readonly abilities: { streaming: boolean; bus: boolean; tty: boolean; folders: boolean; shutdown: boolean };
  /** What this channel cannot do, for GuestStatus (the QEMU guest agent says which abilities need the Lodge agent). */
  readonly note?: string;
  onState(listener: (state: AgentState) => void): () => void;
  /** Resolves once ready (rejects on timeout / signal). */
  whenReady(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  exec(request: ExecStart, sinks: ExecSinks): GuestExecution;
  info(): Promise<GuestInfo>;
  setTime(epochMs: number): Promise<{ offsetMs: number }>;
  shutdown(action: 'poweroff' | 'reboot'): Promise<void>;
  getFiles(path: string, sink: FilesSink, signal?: AbortSignal): Promise<FilesResult>;
  putFiles(path: string, source: FilesSource, signal?: AbortSignal): Promise<FilesResult>;
  /** Up to maxBytes of a regular file from byte `offset` on (following a growing file), and its size; not_found when missing. */
  readFile(path: string, range: FileRange, signal?: AbortSignal): Promise<FileWindow>;
  /** Publishes to the guest's bus; resolves when the guest handed it to its subscribers. */
  publish(message: BusDelivery): Promise<{ delivered: number }>;
  /** Messages the guest's programs publish; the handler's promise is awaited before the guest may send the next (back-pressure). */
  onPublish(handler: (message: BusDelivery) => Promise<number>): void;
  /** The VM's vCPUs stopped (paused) or run again: a channel that watches its agent's liveness holds off meanwhile. */
  vcpusRunning?(running: boolean): void;
  /** Drops the connection (VM stopped or daemon shutting down). */
  close(): void;
}

/** Makes the channels of one VM (main.ts builds them on the VM's agent.sock and qga.sock); core never sees sockets. */
export interface GuestLinks {
  /** vsockCid: the guest also has a vsock device; the channel prefers it and falls back to the virtio-serial port. */
  lodgeAgent(vm: string, vsockCid?: number): GuestChannel;
  /** Undefined when the QEMU guest agent fallback is not available in this build. */
  qemuGuestAgent(vm: string): GuestChannel | undefined;
}
