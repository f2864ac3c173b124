import type { WebSocket } from 'ws';
import {
  asApiError,
  LodgeError,
  type ExecClientMessage,
  type ExecServerMessage,
  type ExecStart,
  type GuestVia,
} from '@lodge/api/lite';
import type { ExecResult } from '@lodge/api/guest';
import { errorFromApi } from './http-transport.js';
import { Deferred } from './deferred.js';
import { parseText, SocketInbox } from './socket-inbox.js';
import { pieces, sendPaced } from './socket-outbox.js';
import type { ExecSocket, ExecSockets } from './exec-sockets.js';

/** Binary exec messages start with one of these bytes. */
export const ExecChannel = { stdin: 0, stdout: 1, stderr: 2 } as const;

/** Where the guest process's output goes; a returned promise holds back further output (back-pressure). */
export interface ExecOutput {
  stdout(chunk: Buffer): void | Promise<void>;
  stderr(chunk: Buffer): void | Promise<void>;
  /** The process runs in the guest. */
  started?(info: { pid: number; via: GuestVia; note?: string }): void;
}

/** How the process ended, and how the daemon reached the guest (absent if it never said it started). */
export type ExecOutcome = ExecResult & { via?: GuestVia; pid?: number };

export interface ExecSession {
  /** Settles after all output was handed to ExecOutput; rejects with the daemon's error as a LodgeError. */
  readonly result: Promise<ExecOutcome>;
  /** Resolves once the socket took the bytes (waits while much is unsent); dropped when the process is over. */
  writeStdin(chunk: Buffer): Promise<void>;
  endStdin(): void;
  signal(name: string): void;
  resize(rows: number, cols: number): void;
  /** Hangs up: the daemon kills the process; `result` rejects unless it had already settled. */
  close(): void;
}

/** One guest process over the exec WebSocket: [channel][bytes] binary messages, JSON text control messages. */
class RemoteProcess implements ExecSession {
  private readonly outcome = new Deferred<ExecOutcome>();
  private ws: WebSocket | undefined;
  private kept: ExecSocket | undefined;
  private started: { pid: number; via: GuestVia } | undefined;
  private hungUp = false;
  readonly inbox: SocketInbox;

  constructor(
    private readonly name: string,
    private readonly io: ExecOutput,
    private readonly sockets: ExecSockets,
  ) {
    this.inbox = new SocketInbox({
      message: (data, isBinary) => (isBinary ? this.output(data) : this.control(data)),
      closed: (code, reason) => this.fail(this.closedError(code, reason)),
      failed: (err) => this.fail(err),
    });
  }

  get result(): Promise<ExecOutcome> {
    return this.outcome.promise;
  }

  bind(kept: ExecSocket): void {
    this.kept = kept;
    this.ws = kept.ws;
    this.inbox.bind(kept.ws);
  }

  private output(data: Buffer): void | Promise<void> {
    const chunk = data.subarray(1);
    if (data[0] === ExecChannel.stdout) return this.io.stdout(chunk);
    if (data[0] === ExecChannel.stderr) return this.io.stderr(chunk);
    throw new LodgeError('internal', `exec in ${this.name}: output on unknown channel ${String(data[0])}`);
  }

  private control(data: Buffer): void {
    const msg = parseText<ExecServerMessage>(data, `exec in ${this.name}`);
    if (msg.type === 'started') {
      this.started = { pid: msg.pid, via: msg.via };
      this.io.started?.({ pid: msg.pid, via: msg.via, note: msg.note });
    } else if (msg.type === 'exit') {
      const { exitCode, signal, timedOut } = msg;
      this.giveBack();
      this.outcome.resolve({ exitCode, signal, timedOut, via: this.started?.via, pid: this.started?.pid });
    } else if (msg.type === 'error') {
      const known = asApiError({ error: msg.error });
      this.fail(known ? errorFromApi(known) : new LodgeError('internal', `exec in ${this.name} failed: ${JSON.stringify(msg.error)}`));
    }
  }

  private closedError(code: number, reason: string): LodgeError {
    if (this.hungUp) return new LodgeError('internal', `exec in ${this.name}: closed before the command finished`);
    return new LodgeError('internal', `exec in ${this.name}: lodged closed the connection before the command finished (${reason || `code ${code}`})`);
  }

  private fail(err: unknown): void {
    this.outcome.reject(err);
    this.hangUp();
  }

  /** After the exit the daemon keeps the socket for another exec: it goes back to the pool, not closed. */
  private giveBack(): void {
    const kept = this.kept;
    this.hungUp = true;
    this.inbox.unbind();
    this.kept = this.ws = undefined;
    if (kept) this.sockets.give(this.name, kept);
  }

  private hangUp(): void {
    this.hungUp = true;
    if (this.ws && this.ws.readyState !== this.ws.CLOSED && this.ws.readyState !== this.ws.CLOSING) this.ws.close(1000);
  }

  private get open(): boolean {
    return !this.outcome.settled && this.ws !== undefined && this.ws.readyState === this.ws.OPEN;
  }

  private send(message: ExecClientMessage): void {
    if (this.open) this.ws?.send(JSON.stringify(message));
  }

  async writeStdin(chunk: Buffer): Promise<void> {
    for (const piece of pieces(chunk)) {
      if (!this.open || !this.ws) return;
      // A socket that closes meanwhile is reported once, through `result`.
      await sendPaced(this.ws, Buffer.concat([Buffer.of(ExecChannel.stdin), piece])).catch((err: unknown) => {
        if (this.open) throw err;
      });
    }
  }

  endStdin = (): void => this.send({ type: 'stdin-end' });
  signal = (signal: string): void => this.send({ type: 'signal', signal });
  resize = (rows: number, cols: number): void => this.send({ type: 'resize', rows, cols });

  close(): void {
    this.hangUp();
  }
}

/** Starts a process in the guest; resolves once the daemon took the start message. */
export async function openExec(sockets: ExecSockets, name: string, start: ExecStart, io: ExecOutput): Promise<ExecSession> {
  const proc = new RemoteProcess(name, io, sockets);
  const kept = await sockets.take(name, proc.inbox.push);
  proc.bind(kept);
  kept.ws.send(JSON.stringify(start));
  return proc;
}
