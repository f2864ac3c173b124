// One program started by lodge-spawn, shaped like the parts of Node's ChildProcess that exec uses.

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import { Writable, type Readable } from 'node:stream';

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));
const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** An Error as Node's spawn reports one: `code` is the errno name (ENOENT, EACCES...). */
export function errnoError(errno: number, what: string): NodeJS.ErrnoException {
  const code = ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
  return Object.assign(new Error(`${what}: ${code}`), { code, errno: -errno });
}

/**
 * Events as ChildProcess: 'spawn' once started with its stdio connected, 'error' (before 'spawn': could not start;
 * after: lodge-spawn died and took the exit status with it), 'exit' (code, signal).
 */
export class SpawnedChild extends EventEmitter {
  pid: number | undefined;
  stdout: Readable | null = null;
  stderr: Readable | null = null;
  readonly stdin: Writable | null;
  private readonly sockets: (Socket | undefined)[] = [undefined, undefined, undefined];
  private waitingStdin: (() => void)[] = [];
  private started = false;
  private announced = false;
  private ended = false;
  private exit: [number | null, NodeJS.Signals | null] | undefined;

  constructor(readonly id: number, private readonly wantStdin: boolean, private readonly send: (signo: number) => void) {
    super();
    this.stdin = wantStdin ? this.stdinWriter() : null;
  }

  /** The program's end of stdin, stdout or stderr connected (its header named this child). */
  attach(channel: 0 | 1 | 2, socket: Socket): void {
    if (this.ended || this.sockets[channel] || (channel === 0 && !this.wantStdin)) return void socket.destroy();
    this.sockets[channel] = socket;
    socket.on('error', () => undefined);
    if (channel === 0) {
      socket.resume(); // whatever the program writes to its stdin is dropped, as a pipe's read end would refuse it
      for (const wake of this.waitingStdin.splice(0)) wake();
    } else if (channel === 1) this.stdout = socket;
    else this.stderr = socket;
    this.maybeSpawned();
  }

  markStarted(pid: number): void {
    this.pid = pid;
    this.started = true;
    this.maybeSpawned();
  }

  markExited(code: number | null, signo: number): void {
    this.exit = [code, signo === 0 ? null : (SIGNAL_NAMES.get(signo) ?? null)];
    this.maybeSpawned();
  }

  /** Could not start (errno), or lost: the spawner died; the program, if any, is killed. */
  failed(error: Error): void {
    if (this.ended) return;
    this.ended = true;
    if (this.pid !== undefined && this.exit === undefined) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    for (const s of this.sockets) s?.destroy();
    this.stdin?.destroy();
    this.emit('error', error);
  }

  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    const signo = typeof signal === 'number' ? signal : constants.signals[signal];
    if (!this.started || this.exit !== undefined || signo === undefined) return false;
    this.send(signo);
    return true;
  }

  private maybeSpawned(): void {
    const connected = this.sockets[1] && this.sockets[2] && (!this.wantStdin || this.sockets[0]);
    if (this.ended || !this.started || !connected) return;
    if (!this.announced) {
      this.announced = true;
      this.emit('spawn');
    }
    if (this.exit && !this.ended) {
      this.ended = true;
      const exit = this.exit;
      // Never in the same turn as 'spawn', as with ChildProcess: whoever awaited 'spawn' can still listen for it.
      setImmediate(() => this.emit('exit', ...exit));
    }
  }

  /** Writes reach the program once its stdin socket is there; end() shuts the socket's write side (EOF). */
  private stdinWriter(): Writable {
    const socket = (): Promise<Socket> =>
      this.sockets[0] ? Promise.resolve(this.sockets[0]) : new Promise((resolve) => this.waitingStdin.push(() => resolve(this.sockets[0] as Socket)));
    return new Writable({
      write: (chunk: Buffer, _encoding, callback) => void socket().then((s) => s.write(chunk, (e) => callback(e ?? null))),
      final: (callback) => void socket().then((s) => s.end(() => callback())),
      destroy: (error, callback) => {
        this.sockets[0]?.destroy();
        callback(error);
      },
    });
  }
}
