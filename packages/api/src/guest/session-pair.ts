// Tests: a host and a guest session wired back-to-back in memory (no I/O), with an optional async, bounded pipe.
import type { Session, SessionOptions, Stream } from './contract.js';
import { createSession } from './session.js';

export interface PipeOptions {
  /** Deliver on a later turn (setImmediate), like a socket; default: synchronously inside write(). */
  async?: boolean;
  /** write() returns false once this many bytes are in flight, and the pipe calls drain() after delivering them. */
  highWater?: number;
}

/** One direction: the writer's write() feeds the reader's receive(). */
export class MemoryPipe {
  inFlight = 0;
  maxInFlight = 0;
  delivered = 0;
  /** Drops what is written (a cut cable) while true. */
  cut = false;
  /** write() returns false (the bytes still pass) while true, like a full socket buffer. */
  full = false;
  /** Every chunk written, when set (for tests that read frames back). */
  tap: Buffer[] | undefined;
  readonly #options: PipeOptions;
  readonly #queue: Buffer[] = [];
  #scheduled = false;
  #blocked = false;
  #deliver: (chunk: Buffer) => void = () => undefined;
  #drain: () => void = () => undefined;

  constructor(options: PipeOptions = {}) {
    this.#options = options;
  }

  connect(deliver: (chunk: Buffer) => void, drain: () => void): void {
    this.#deliver = deliver;
    this.#drain = drain;
  }

  write = (bytes: Buffer): boolean => {
    this.tap?.push(bytes);
    if (this.cut) return true;
    if (!this.#options.async) {
      this.delivered += bytes.length;
      this.#deliver(bytes);
      return !this.full;
    }
    this.#queue.push(bytes);
    this.inFlight += bytes.length;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    const ok = this.inFlight < (this.#options.highWater ?? Infinity);
    if (!ok) this.#blocked = true;
    return ok;
  };

  #flush(): void {
    this.#scheduled = false;
    const chunks = this.#queue.splice(0);
    this.inFlight = 0;
    for (const chunk of chunks) {
      this.delivered += chunk.length;
      this.#deliver(chunk);
    }
    if (this.#blocked) {
      this.#blocked = false;
      this.#drain();
    }
  }
}

export interface SessionPair {
  host: Session;
  guest: Session;
  toGuest: MemoryPipe;
  toHost: MemoryPipe;
  /** Streams the guest (resp. host) opened, as the other end saw them. */
  openedOnHost: Stream[];
  openedOnGuest: Stream[];
  resets: { host: string[]; guest: string[] };
  garbage: { host: string[]; guest: string[] };
}

type Overrides = Partial<SessionOptions>;

export function sessionPair(options: { host?: Overrides; guest?: Overrides; pipe?: PipeOptions } = {}): SessionPair {
  const toGuest = new MemoryPipe(options.pipe);
  const toHost = new MemoryPipe(options.pipe);
  const openedOnHost: Stream[] = [];
  const openedOnGuest: Stream[] = [];
  const resets = { host: [] as string[], guest: [] as string[] };
  const garbage = { host: [] as string[], guest: [] as string[] };
  const host = createSession({
    role: 'host',
    write: toGuest.write,
    onOpen: (stream) => openedOnHost.push(stream),
    onReset: (e) => resets.host.push(e.code),
    onGarbage: (bytes, reason) => garbage.host.push(`${bytes} ${reason}`),
    helloIntervalMs: 0,
    ...options.host,
  });
  const guest = createSession({
    role: 'guest',
    write: toHost.write,
    agent: { version: '1.2.3', pid: 42 },
    onOpen: (stream) => openedOnGuest.push(stream),
    onReset: (e) => resets.guest.push(e.code),
    onGarbage: (bytes, reason) => garbage.guest.push(`${bytes} ${reason}`),
    helloIntervalMs: 0,
    ...options.guest,
  });
  toGuest.connect((chunk) => guest.receive(chunk), () => host.drain());
  toHost.connect((chunk) => host.receive(chunk), () => guest.drain());
  return { host, guest, toGuest, toHost, openedOnHost, openedOnGuest, resets, garbage };
}

/** Resolves once `check` holds, polling each turn of the event loop (fails after `turns`). */
export async function until(check: () => boolean, turns = 10_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (check()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('condition not reached');
}
