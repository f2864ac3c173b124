import { randomInt } from 'node:crypto';
import type { Socket } from 'node:net';
import { DELIMITER, LineReader, type Token } from './line-reader.js';
import { PendingReply, isSyncReply } from './pending-reply.js';
import { QgaError, isUnreachable, qgaErrors } from './qga-errors.js';
import { openConnection } from './unix-connection.js';

export const DEFAULT_CALL_TIMEOUT_MS = 10_000;
/** How long an unanswered sync is waited for before a fresh one is sent (qemu-ga may have lost the first). */
export const SYNC_RESEND_MS = 30_000;

export interface QgaClientOptions {
  socketPath: string;
  /** Default budget of a call (default 10 s). */
  callTimeoutMs?: number;
  /** Longest accepted reply line; over it the connection is dropped. */
  maxLineBytes?: number;
  /** Told when a call got no answer (timeout, closed socket, garbage): qemu-ga may be gone. */
  onUnreachable?: (err: QgaError) => void;
}
export interface QgaCallOptions {
  /** Budget from the moment this call gets its turn (reconnect and resync included); default: the client's. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface Waiter {
  reply: PendingReply;
  /** Set while resyncing: every line is discarded until `0xFF {"return": syncId}`. */
  syncId?: number;
}

type Json = Record<string, unknown>;

/**
 * One line-JSON link to qemu-ga over QEMU's chardev socket. QGA has no request ids, so calls run strictly one
 * at a time, and after anything that may leave a reply in flight (timeout, abort, stray line) the next call first
 * resyncs with guest-sync-delimited. The socket is (re)opened on demand.
 */
export class QgaClient {
  readonly #path: string;
  readonly callTimeoutMs: number;
  readonly #reader: LineReader;
  readonly #onUnreachable: ((err: QgaError) => void) | undefined;
  #socket: Socket | undefined;
  #synced = false;
  #closed = false;
  #waiter: Waiter | undefined;
  /** The next line follows a 0xFF: it is a guest-sync-delimited reply, never a command's. */
  #afterDelimiter = false;
  /** Our latest sync, written but not answered yet (qemu-ga not reading): waited for again rather than re-sent. */
  #unansweredSync: number | undefined;
  #unansweredSince = 0;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(opts: QgaClientOptions) {
    this.#path = opts.socketPath;
    this.callTimeoutMs = opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.#reader = new LineReader(opts.maxLineBytes);
    this.#onUnreachable = opts.onUnreachable;
  }

  get path(): string {
    return this.#path;
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Resynchronises (connecting first if needed): stale replies from earlier clients or timed-out calls are dropped. */
  sync(opts: QgaCallOptions = {}): Promise<void> {
    return this.#enqueue('guest-sync-delimited', opts, async (deadline) => {
      await this.#syncNow(deadline, opts.signal);
    });
  }

  /** Sends one command and resolves with its `return`; rejects with a QgaError (error reply, timeout, abort, close). */
  execute<T = unknown>(command: string, args?: Json, opts: QgaCallOptions = {}): Promise<T> {
    let line: string;
    try {
      line = `${JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args })}\n`;
    } catch (err) {
      return Promise.reject(qgaErrors.protocol(`arguments of ${command} are not JSON: ${String(err)}`));
    }
    return this.#enqueue(command, opts, async (deadline) => {
      if (!this.#synced) await this.#syncNow(deadline, opts.signal);
      return (await this.#roundTrip(command, Buffer.from(line), deadline, opts.signal)) as T;
    });
  }

  /** Ends the link for good: the call in flight and every queued call reject. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#drop(undefined);
  }

  #enqueue<T>(command: string, opts: QgaCallOptions, task: (deadline: number) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.#closed) throw qgaErrors.clientClosed(command);
      if (opts.signal?.aborted) throw qgaErrors.commandAborted(command, opts.signal.reason);
      return task(Date.now() + (opts.timeoutMs ?? this.callTimeoutMs));
    };
    const result = this.#tail.then(run, run);
    this.#tail = result.catch(() => {}); // one failed call must not poison the queue
    return result;
  }

  async #syncNow(deadline: number, signal: AbortSignal | undefined): Promise<void> {
    this.#synced = false;
    // While qemu-ga is down QEMU leaves our bytes in the socket: re-sending every probe would pile them up.
    const reuse = this.#socket !== undefined && this.#unansweredSync !== undefined && Date.now() - this.#unansweredSince < SYNC_RESEND_MS;
    const syncId = reuse && this.#unansweredSync !== undefined ? this.#unansweredSync : randomInt(1, 2 ** 31 - 1); // random: another client's stale reply cannot match
    let bytes = Buffer.alloc(0);
    if (!reuse) {
      // The leading 0xFF makes qemu-ga drop any half-received request from an earlier client.
      const request = Buffer.from(`${JSON.stringify({ execute: 'guest-sync-delimited', arguments: { id: syncId } })}\n`);
      bytes = Buffer.concat([Buffer.from([DELIMITER]), request]);
    }
    await this.#roundTrip('guest-sync-delimited', bytes, deadline, signal, syncId);
    this.#synced = true;
  }

  async #roundTrip(command: string, bytes: Buffer, deadline: number, signal: AbortSignal | undefined, syncId?: number): Promise<unknown> {
    let waiter: Waiter | undefined;
    try {
      const socket = await this.#connect(command, deadline);
      waiter = { reply: new PendingReply(command, deadline - Date.now(), signal), ...(syncId === undefined ? {} : { syncId }) };
      this.#waiter = waiter;
      if (socket.destroyed) this.#drop(undefined);
      else if (bytes.length > 0) {
        socket.write(bytes);
        if (syncId !== undefined) {
          this.#unansweredSync = syncId;
          this.#unansweredSince = Date.now();
        }
      }
      return await waiter.reply.promise;
    } catch (err) {
      // Without a reply (timeout, abort, garbage) it may still come and would be taken for the next call's.
      if (!(err instanceof QgaError && err.reason === 'command')) this.#synced = false;
      if (isUnreachable(err) && !this.#closed) this.#onUnreachable?.(err as QgaError);
      throw err;
    } finally {
      if (waiter && this.#waiter === waiter) this.#waiter = undefined;
    }
  }

  async #connect(command: string, deadline: number): Promise<Socket> {
    if (this.#socket) return this.#socket;
    const socket = await openConnection(this.#path, command, deadline);
    if (this.#closed) {
      socket.destroy();
      throw qgaErrors.clientClosed(command);
    }
    this.#reader.reset();
    this.#afterDelimiter = false;
    this.#unansweredSync = undefined;
    this.#synced = false;
    socket.on('data', (chunk: Buffer) => this.#onData(socket, chunk));
    socket.on('error', () => {}); // 'close' follows and does the work
    socket.on('close', () => {
      if (this.#socket === socket) this.#drop(undefined);
    });
    this.#socket = socket;
    return socket;
  }

  #onData(socket: Socket, chunk: Buffer): void {
    if (this.#socket !== socket) return;
    let tokens: Token[];
    try {
      tokens = this.#reader.push(chunk);
    } catch (err) {
      return this.#drop(err as Error);
    }
    for (const token of tokens) this.#onToken(token);
  }

  #onToken(token: Token): void {
    if (token.kind === 'delimiter') {
      this.#afterDelimiter = true;
      return;
    }
    const waiter = this.#waiter;
    if (this.#afterDelimiter) {
      // A delimited line answers a guest-sync-delimited: our latest one, or a stale one (another id).
      this.#afterDelimiter = false;
      const id = this.#unansweredSync;
      if (id !== undefined && isSyncReply(token.text, id)) {
        this.#unansweredSync = undefined;
        if (waiter?.syncId === id) waiter.reply.resolve(undefined);
        else if (!waiter) this.#synced = true; // it came after its call gave up, but nothing was sent since
      }
      return;
    }
    if (waiter?.syncId !== undefined || token.text.trim() === '') return; // resyncing: everything else is stale
    if (!waiter) {
      this.#synced = false; // a reply nobody asked for: resync before trusting the stream again
      return;
    }
    this.#waiter = undefined;
    waiter.reply.settleWith(token.text);
  }

  /** Forgets the socket; the next call reconnects (unless closed). */
  #drop(err: Error | undefined): void {
    const socket = this.#socket;
    this.#socket = undefined;
    this.#synced = false;
    this.#reader.reset();
    socket?.destroy();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reply.reject(this.#closed ? qgaErrors.clientClosed(waiter.reply.command) : qgaErrors.closed(waiter.reply.command, err));
  }
}
