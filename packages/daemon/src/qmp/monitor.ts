import { createConnection, type Socket } from 'node:net';
import { DEFAULT_TIMEOUT_MS, deadlinePromise, type DeadlineOptions } from './deadline.js';
import { qmpErrors } from './errors.js';
import { Listeners } from './listeners.js';
import { PendingCalls } from './pending-calls.js';
import { LineSplitter, idSequence, parseMessage, serializeCommand, type QmpEvent, type QmpGreeting, type QmpMessage } from './protocol.js';
import { waitForEvent, type WaitForEventOptions } from './wait-for-event.js';

export interface QmpConnectOptions {
  path: string;
  /** Budget for connect + greeting + negotiation together; defaults to 10 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Longest accepted line from QEMU; over it the connection is closed. */
  maxLineBytes?: number;
}
export type QmpCallOptions = DeadlineOptions;
type Stage = 'connecting' | 'greeting' | 'negotiating' | 'ready' | 'closed';

/** One QMP connection to one QEMU process: commands matched by id, events fanned out, everything settled on close. */
export class QmpMonitor {
  readonly #socket: Socket;
  readonly #path: string;
  readonly #splitter: LineSplitter;
  readonly #pending = new PendingCalls();
  readonly #nextId = idSequence();
  readonly #events = new Listeners<[QmpEvent]>();
  readonly #closes = new Listeners<[Error | undefined]>();
  #stage: Stage = 'connecting';
  #greeting: QmpGreeting | undefined;
  #closeError: Error | undefined;
  #greetingWaiter: { resolve: (g: QmpGreeting) => void; reject: (e: Error) => void } | undefined;

  /** Resolves once QEMU greeted us and accepted qmp_capabilities; on any failure the socket is already closed. */
  static async connect(opts: QmpConnectOptions): Promise<QmpMonitor> {
    const { path, timeoutMs = DEFAULT_TIMEOUT_MS, signal } = opts;
    const monitor = new QmpMonitor(createConnection(path), path, opts.maxLineBytes);
    const handshake = monitor.#handshake();
    const deadline = deadlinePromise({ timeoutMs, signal }, {
      timeout: (ms) => qmpErrors.connectTimeout(path, ms, monitor.#stage),
      aborted: (reason) => qmpErrors.connectAborted(path, reason),
    });
    try {
      await Promise.race([handshake, deadline.promise]);
      return monitor;
    } catch (err) {
      handshake.catch(() => {}); // it rejects once we close below; the first error is the one we report
      monitor.close();
      throw err;
    } finally {
      deadline.dispose();
    }
  }

  private constructor(socket: Socket, path: string, maxLineBytes?: number) {
    this.#socket = socket;
    this.#path = path;
    this.#splitter = new LineSplitter(maxLineBytes);
    socket.on('connect', () => {
      if (this.#stage === 'connecting') this.#stage = 'greeting';
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      this.#shutdown(this.#stage === 'connecting' ? qmpErrors.connectFailed(path, err) : qmpErrors.socketFailed(path, err)));
    socket.on('close', () => this.#shutdown(qmpErrors.peerClosed(path, this.#stage)));
  }

  get greeting(): QmpGreeting {
    if (!this.#greeting) throw new Error('QmpMonitor.greeting read before negotiation'); // unreachable: connect awaits it
    return this.#greeting;
  }

  get closed(): boolean {
    return this.#stage === 'closed';
  }

  get path(): string {
    return this.#path;
  }

  /** Sends one command; rejects with a QmpError on an error reply, timeout (default 10 s), abort or close. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, opts: QmpCallOptions = {}): Promise<T> {
    if (this.closed) return Promise.reject(qmpErrors.commandClosed(command, this.#closeError));
    // An aborted call must not reach QEMU: it could not be taken back.
    if (opts.signal?.aborted) return Promise.reject(qmpErrors.commandAborted(command, opts.signal.reason));
    const id = this.#nextId();
    let line: string;
    try {
      line = serializeCommand({ execute: command, arguments: args, id }); // before registering: a BigInt must not leave a pending entry
    } catch (err) {
      return Promise.reject(qmpErrors.badArguments(command, err));
    }
    const reply = this.#pending.add(id, command, opts);
    this.#socket.write(line);
    return reply as Promise<T>;
  }

  onEvent(listener: (ev: QmpEvent) => void): () => void {
    return this.#events.add(listener);
  }

  /** `err` is undefined after close(); a listener added once closed is called on the next microtask. */
  onClose(listener: (err?: Error) => void): () => void {
    if (this.closed) queueMicrotask(() => listener(this.#closeError));
    return this.closed ? () => {} : this.#closes.add(listener);
  }

  /** Subscribe before sending the command that causes the event, or it may pass unseen. */
  waitForEvent(name: string, opts: WaitForEventOptions = {}): Promise<QmpEvent> {
    return waitForEvent(this, name, opts);
  }

  close(): void {
    this.#shutdown(undefined);
  }

  async #handshake(): Promise<void> {
    this.#greeting = await new Promise<QmpGreeting>((resolve, reject) => (this.#greetingWaiter = { resolve, reject }));
    await this.execute('qmp_capabilities', undefined, { timeoutMs: Infinity }); // connect's own deadline bounds it
    if (this.#stage === 'negotiating') this.#stage = 'ready';
  }

  #onData(chunk: Buffer): void {
    try {
      for (const line of this.#splitter.push(chunk)) {
        if (this.closed) return; // a listener may have closed us mid-chunk
        if (line.trim() !== '') this.#dispatch(parseMessage(line)); // QEMU ends lines with \r\n
      }
    } catch (err) {
      this.#shutdown(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #dispatch(msg: QmpMessage): void {
    if (this.#stage === 'greeting' && msg.kind !== 'greeting') throw qmpErrors.protocol(`${msg.kind} before the greeting`);
    switch (msg.kind) {
      case 'greeting':
        if (this.#stage !== 'greeting') throw qmpErrors.protocol('unexpected second greeting');
        this.#stage = 'negotiating';
        return this.#greetingWaiter?.resolve(msg.greeting);
      case 'return':
      case 'error': {
        // Without an id we cannot tell whose reply it is; QEMU omits it only for requests it could not parse.
        if (msg.id === undefined) throw qmpErrors.protocol(`reply without id: ${JSON.stringify(msg)}`);
        if (msg.kind === 'return') this.#pending.resolve(msg.id, msg.value);
        else this.#pending.reject(msg.id, (command) => qmpErrors.commandFailed(command, msg.error));
        return;
      }
      case 'event':
        return this.#events.emit(msg.event);
      default:
        return assertNever(msg);
    }
  }

  /** The single way out: idempotent, and it settles everything still waiting before telling onClose listeners. */
  #shutdown(err: Error | undefined): void {
    if (this.closed) return;
    this.#stage = 'closed';
    this.#closeError = err;
    this.#socket.destroy();
    this.#greetingWaiter?.reject(err ?? qmpErrors.peerClosed(this.#path, 'greeting'));
    this.#pending.rejectAll((command) => qmpErrors.commandClosed(command, err));
    this.#closes.emit(err);
    this.#closes.clear();
    this.#events.clear();
  }
}

function assertNever(x: never): never {
  throw new Error(`unhandled QMP message ${JSON.stringify(x)}`);
}
