// One program started by lodge-spawn, shaped like the parts of Node's ChildProcess that exec uses.

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import { Writable, type Readable } from 'node:stream';
import type { ExecTrace } from './exec-trace.js';
import type { Slot } from './spawn-slot.js';

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));
const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/**
 * Ends an output lodge-spawn found empty and closed by every writer: everything in it was read already (our read
 * hands data to the stream in the same callback), so its end-of-file needs no wait. Not if data waits in the stream.
 */
function endDrained(output: Readable, drained: boolean): void {
  if (drained && !output.readableEnded && !output.destroyed && output.readableLength === 0) output.push(null);
}

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
  /** When tracing: the exec's timing marks. */
  tr: ExecTrace | undefined;
  private slot: Slot | undefined;
  private waitingStdin: ((pipe: Socket) => void)[] = [];
  private started = false;
  private announced = false;
  /** 'spawn' was emitted in this turn of the event loop. */
  private spawnTurn = false;
  private ended = false;
  private exit: [number | null, NodeJS.Signals | null] | undefined;
  private drained = 0;

  constructor(readonly id: number, readonly wantStdin: boolean, private readonly send: (signo: number) => void) {
    super();
    this.stdin = wantStdin ? this.stdinWriter() : null;
  }

  /** The pipes the program will get (an exec may wait for lodge-spawn to make them); false if they are unusable. */
  attach(slot: Slot): boolean {
    if (this.ended || this.slot) {
      slot.close();
      return false;
    }
    // Without stdin the program reads /dev/null and our end of that pipe is never opened.
    let stdin: Socket | undefined;
    try {
      if (this.wantStdin) stdin = slot.openStdin();
    } catch (error) {
      slot.close();
      this.failed(new Error(`exec's stdin pipe: ${error instanceof Error ? error.message : String(error)}`));
      return false;
    }
    this.slot = slot;
    this.stdout = slot.stdout;
    this.stderr = slot.stderr;
    for (const wake of this.waitingStdin.splice(0)) wake(stdin as Socket);
    this.maybeSpawned();
    return true;
  }

  markStarted(pid: number): void {
    this.pid = pid;
    this.started = true;
    this.maybeSpawned();
  }

  /** `drained`: bit 1 stdout, bit 2 stderr was empty with no writer left when lodge-spawn reaped the program. */
  markExited(code: number | null, signo: number, drained = 0): void {
    this.exit = [code, signo === 0 ? null : (SIGNAL_NAMES.get(signo) ?? null)];
    this.drained = drained;
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
    this.slot?.close();
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
    if (this.ended || !this.started || !this.slot) return;
    if (!this.announced) {
      this.announced = true;
      this.spawnTurn = true;
      setImmediate(() => (this.spawnTurn = false));
      this.emit('spawn');
    }
    if (this.exit && !this.ended) {
      this.ended = true;
      const exit = this.exit;
      endDrained(this.slot.stdout, (this.drained & 1) !== 0);
      endDrained(this.slot.stderr, (this.drained & 2) !== 0);
      // Never in the same turn as 'spawn', as with ChildProcess: whoever awaited 'spawn' can still listen for it.
      // In a later turn at once: no hop of the event loop between the program's end and the exec's finish.
      if (this.spawnTurn) setImmediate(() => this.emit('exit', ...exit));
      else this.emit('exit', ...exit);
    }
  }

  /**
   * Writes reach the program's stdin pipe once the slot is there; end() closes our end (end-of-file for the program:
   * a pipe has no shutdown, so the fd is closed once every write is done).
   */
  private stdinWriter(): Writable {
    const pipe = (): Promise<Socket> => (this.slot ? Promise.resolve(this.slot.openStdin()) : new Promise((resolve) => this.waitingStdin.push(resolve)));
    return new Writable({
      write: (chunk: Buffer, _encoding, callback) => void pipe().then((s) => s.write(chunk, (e) => callback(e ?? null))),
      final: (callback) =>
        void pipe().then((s) => {
          s.destroy();
          callback();
        }),
      destroy: (error, callback) => {
        if (this.slot) this.slot.openStdin().destroy();
        callback(error);
      },
    });
  }
}
