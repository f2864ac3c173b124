// One program started by lodge-spawn, shaped like the parts of Node's ChildProcess that exec uses; its outputs are
// what lodge-spawn relays, held back there (pause/resume) while a stream is full.

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import { Readable, Writable } from 'node:stream';
import type { ExecTrace } from './exec-trace.js';
import { errnoName } from './op-error.js';
import type { Slot } from './spawn-slot.js';

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/** Output kept for a sink not set yet. */
const HELD_MAX = 64 * 1024;

/** An Error as Node's spawn reports one: `code` is the errno name (ENOENT, EACCES...). */
export function errnoError(errno: number, what: string): NodeJS.ErrnoException {
  const code = errnoName(errno);
  return Object.assign(new Error(`${what}: ${code}`), { code, errno: -errno });
}

/** Where a child's output goes: exec's relay to the host, or the stdout/stderr streams (made when first asked for). */
export interface OutputSink {
  /** Bytes of output `ch` (1 stdout, 2 stderr); false: lodge-spawn holds that output back until resumeOutput(ch). */
  data(ch: 1 | 2, bytes: Buffer): boolean;
  /** Every writer closed output `ch`. */
  end(ch: 1 | 2): void;
}

/**
 * Events as ChildProcess: 'spawn' once started with its stdio connected, 'error' (before 'spawn': could not start;
 * after: lodge-spawn died and took the exit status with it), 'exit' (code, signal).
 */
export class SpawnedChild extends EventEmitter {
  pid: number | undefined;
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
  /** lodge-spawn stopped reading output 1 / 2 because its stream was full. */
  private readonly paused = [false, false];
  private outputsOpen = 2;
  private sink: OutputSink | undefined;
  /** Output that came before a sink was set; above HELD_MAX bytes lodge-spawn holds the rest back. */
  private held: [1 | 2, Buffer | null][] = [];
  private heldBytes = 0;
  /**
   * Set by a user that listens for 'exit' before 'spawn' (exec): 'exit' may then come in the same turn as 'spawn', so
   * the exec's Started, ends and Finish go out in one write. Else it comes a turn later, as with ChildProcess.
   */
  exitWithSpawn = false;
  private streams: [Readable, Readable] | undefined;

  /** `send`: a request to lodge-spawn about this child (k: signal, p/r: pause/resume an output). */
  constructor(readonly id: number, readonly wantStdin: boolean, private readonly send: (fields: string[]) => void) {
    super();
    this.stdin = wantStdin ? this.stdinWriter() : null;
  }

  /** The program's stdout as a stream (then its output goes there, not to a sink). */
  get stdout(): Readable {
    return this.outputStreams()[0];
  }

  get stderr(): Readable {
    return this.outputStreams()[1];
  }

  /** Sends the output to `sink` (set once, before or after 'spawn'): no stream per output, no hop through one. */
  setSink(sink: OutputSink): void {
    this.sink = sink;
    const full = [false, false];
    for (const [ch, bytes] of this.held.splice(0)) {
      if (bytes) full[ch - 1] = !sink.data(ch, bytes);
      else sink.end(ch);
    }
    this.heldBytes = 0;
    if (!full[0]) this.resumeOutput(1);
    if (!full[1]) this.resumeOutput(2);
  }

  /** lodge-spawn reads output `ch` again (after the sink said false). */
  resumeOutput(ch: 1 | 2): void {
    if (!this.paused[ch - 1] || this.outputsOpen === 0) return;
    this.paused[ch - 1] = false;
    this.send(['r', String(this.id), String(ch)]);
  }

  /** Nothing more of it will come from lodge-spawn: it ended (or failed) and both outputs are over. */
  get done(): boolean {
    return this.ended && this.outputsOpen === 0;
  }

  /** The stdin pipe an exec that wants one gets (it may wait for lodge-spawn to make it); false if it ended meanwhile. */
  attach(slot: Slot): boolean {
    if (this.ended || this.slot) {
      slot.close();
      return false;
    }
    this.slot = slot;
    for (const wake of this.waitingStdin.splice(0)) wake(slot.stdin);
    this.maybeSpawned();
    return true;
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

  /** Bytes of output `ch` (1 stdout, 2 stderr); while its stream is full lodge-spawn is told to stop reading it. */
  onOutput(ch: 1 | 2, data: Buffer): void {
    let more: boolean;
    if (this.sink) more = this.sink.data(ch, data);
    else {
      this.held.push([ch, data]);
      this.heldBytes += data.length;
      more = this.heldBytes < HELD_MAX;
    }
    if (!more && !this.paused[ch - 1]) {
      this.paused[ch - 1] = true;
      this.send(['p', String(this.id), String(ch)]);
    }
  }

  /** Every writer closed output `ch`. */
  onOutputEnd(ch: 1 | 2): void {
    this.outputsOpen--;
    if (this.sink) this.sink.end(ch);
    else this.held.push([ch, null]);
  }

  /** Could not start (errno), or lost: the spawner died; the program, if any, is killed and its outputs cut. */
  failed(error: Error): void {
    this.outputsOpen = 0;
    this.held = [];
    this.streams?.forEach((s) => s.destroy());
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
    this.send(['k', String(this.id), String(signo)]);
    return true;
  }

  private outputStreams(): [Readable, Readable] {
    if (this.streams) return this.streams;
    const make = (ch: 1 | 2): Readable => new Readable({ highWaterMark: 64 * 1024, read: () => this.resumeOutput(ch) }).on('error', () => undefined);
    const streams: [Readable, Readable] = [make(1), make(2)];
    this.streams = streams;
    if (this.outputsOpen === 0 && this.held.length === 0 && this.ended) streams.forEach((s) => s.destroy()); // failed already
    else {
      const pick = (ch: 1 | 2): Readable => (ch === 1 ? streams[0] : streams[1]);
      this.setSink({ data: (ch, bytes) => !pick(ch).destroyed && pick(ch).push(bytes), end: (ch) => pick(ch).push(null) });
    }
    return streams;
  }

  private maybeSpawned(): void {
    if (this.ended || !this.started || (this.wantStdin && !this.slot)) return;
    if (!this.announced) {
      this.announced = true;
      this.spawnTurn = true;
      setImmediate(() => (this.spawnTurn = false));
      this.emit('spawn');
    }
    if (this.exit && !this.ended) {
      this.ended = true;
      const exit = this.exit;
      // In the turn of 'spawn' only to a listener that was there before it (exec's: its Started, ends and Finish then go
      // out in one write); else in a later turn, as with ChildProcess, so whoever awaited 'spawn' can still listen.
      if (this.spawnTurn && !this.exitWithSpawn) setImmediate(() => this.emit('exit', ...exit));
      else this.emit('exit', ...exit);
    }
  }

  /**
   * Writes reach the program's stdin pipe once the slot is there; end() closes our end (end-of-file for the program:
   * a pipe has no shutdown, so the fd is closed once every write is done).
   */
  private stdinWriter(): Writable {
    const pipe = (): Promise<Socket> => (this.slot ? Promise.resolve(this.slot.stdin) : new Promise((resolve) => this.waitingStdin.push(resolve)));
    return new Writable({
      write: (chunk: Buffer, _encoding, callback) => void pipe().then((s) => s.write(chunk, (e) => callback(e ?? null))),
      final: (callback) =>
        void pipe().then((s) => {
          s.destroy();
          callback();
        }),
      destroy: (error, callback) => {
        this.slot?.stdin.destroy();
        callback(error);
      },
    });
  }
}
