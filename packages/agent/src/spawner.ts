// The agent's side of lodge-spawn (native/lodge-spawn.c): requests on its stdin, events from its stdout, and the
// slots of pipes its children's stdio are. Restarted when it dies; given up for Node's spawn after repeated deaths.

import { spawn, type ChildProcess } from 'node:child_process';
import { LineReader } from './line-reader.js';
import type { ExecTrace } from './exec-trace.js';
import { describe, logError } from './log.js';
import { OpError } from './op-error.js';
import { SpawnedChild, errnoError } from './spawned-child.js';
import { openSlot, type Slot } from './spawn-slot.js';

export interface SpawnRequest {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** Run as this user, with these supplementary groups (as initgroups would set them); else as the agent. */
  user?: { uid: number; gid: number; groups: number[] };
  stdin: boolean;
}

/** Deaths in a row without answering a request, after which the agent keeps to Node's spawn. */
const MAX_DEATHS = 3;
/** Slots kept open ahead of time, so making and opening pipes is off the exec's path. */
const POOL = 2;
/** A slot an exec took is made again once it ended (the agent is idle then), or after this long if it still runs. */
const REFILL_AFTER_MS = 200;

export class Spawner {
  private proc: ChildProcess | undefined;
  private readonly children = new Map<number, SpawnedChild>();
  /** Slots whose agent ends are open, waiting for an exec. */
  private readonly ready: Slot[] = [];
  /** Execs that found no ready slot: each gets the next one lodge-spawn makes (every exec asks for one more). */
  private readonly waiting: { child: SpawnedChild; fields: string[] }[] = [];
  private nextId = 1;
  private deaths = 0;
  /** Why our ends of its pipes cannot be opened (no /proc, hidepid...): exec then uses Node's spawn. */
  private broken: string | undefined;

  private constructor(private readonly binary: string) {}

  /** Starts `binary` (lodge-spawn). */
  static start(binary: string): Spawner {
    const spawner = new Spawner(binary);
    spawner.launch();
    return spawner;
  }

  /** False once lodge-spawn keeps dying: exec then uses Node's spawn. */
  usable(): boolean {
    return this.deaths < MAX_DEATHS && this.broken === undefined;
  }

  spawn(request: SpawnRequest, tr?: ExecTrace): SpawnedChild {
    const env = Object.entries(request.env).map(([k, v]) => `${k}=${v}`);
    const bad = [...request.argv, ...env, request.cwd].find((f) => f.includes('\0'));
    if (bad !== undefined) throw new OpError('invalid_argument', `argv, env and cwd must not contain NUL bytes (${JSON.stringify(bad.slice(0, 64))})`);
    if (!this.proc) this.launch();
    const id = this.nextId++;
    const child = new SpawnedChild(id, request.stdin, (signo) => this.send(['k', String(id), String(signo)]));
    child.tr = tr;
    this.children.set(id, child);
    const u = request.user;
    const fields = [u ? String(u.uid) : '', u ? String(u.gid) : '', u ? u.groups.join(',') : '', request.cwd, String(request.argv.length), ...request.argv, ...env];
    tr?.mark('fields');
    const slot = this.ready.shift();
    if (slot) this.start(child, slot, fields);
    else {
      this.waiting.push({ child, fields });
      this.send(['n']);
    }
    this.settle(child, slot !== undefined);
    return child;
  }

  /** Forgets the child when it ends; a slot it took from the pool is made again then (not while it starts and runs). */
  private settle(child: SpawnedChild, tookSlot: boolean): void {
    let timer: NodeJS.Timeout | undefined;
    const refill = (): void => {
      clearTimeout(timer);
      if (tookSlot && this.proc) this.send(['n']);
      tookSlot = false;
    };
    if (tookSlot) timer = setTimeout(refill, REFILL_AFTER_MS).unref();
    const ended = (): void => {
      this.children.delete(child.id);
      // After the exec's finish has been queued: this turn's microtasks send it first.
      setImmediate(refill);
    };
    child.once('exit', ended);
    child.once('error', ended);
  }

  async close(): Promise<void> {
    this.proc?.stdin?.end();
    this.proc = undefined;
    for (const slot of this.ready.splice(0)) slot.close();
  }

  /** The running lodge-spawn's pid (tests kill it). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  private start(child: SpawnedChild, slot: Slot, rest: string[]): void {
    // A slot not attached (the exec ended, or its stdin could not be opened) is given back: no argv, so lodge-spawn
    // closes it and answers "E" (which the ended child ignores).
    if (!child.attach(slot)) return this.send(['x', String(child.id), '0', String(slot.id), '', '', '', '/', '0']);
    this.send(['x', String(child.id), child.wantStdin ? '1' : '0', String(slot.id), ...rest]);
  }

  private launch(): void {
    const proc = spawn(this.binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.proc = proc;
    const lines = new LineReader(256);
    proc.stdout?.on('data', (chunk: Buffer) => {
      for (const line of lines.push(chunk)) if (this.proc === proc) this.onEvent(line, proc.pid as number);
    });
    proc.stdin?.on('error', () => undefined);
    for (let i = 0; i < POOL; i++) this.send(['n']);
    const died = (why: string): void => {
      if (this.proc !== proc) return;
      this.proc = undefined;
      this.deaths++;
      const lost = [...this.children.values()];
      this.children.clear();
      this.waiting.length = 0;
      for (const slot of this.ready.splice(0)) slot.close();
      for (const child of lost) child.failed(new OpError('internal', `lodge-spawn ${why} while the program ran; it was killed and its exit status is lost`));
      logError(`lodge-spawn ${why}${this.usable() ? '; restarting it at the next exec' : `; ${MAX_DEATHS} times in a row, so exec uses Node's spawn from now on`}`);
    };
    proc.once('error', (error) => died(`could not run (${describe(error)})`));
    proc.once('exit', (code, signal) => died(signal ? `was killed by ${signal}` : `exited with code ${code}`));
  }

  private send(fields: string[]): void {
    const body = Buffer.from(`${fields.join('\0')}\0`);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(body.length);
    this.proc?.stdin?.write(Buffer.concat([head, body]));
  }

  private onEvent(line: string, pid: number): void {
    const [kind, idText, a = '', b = '', c = ''] = line.split(' ');
    if (kind === 'P') return this.onSlot(pid, Number(idText), [Number(a), Number(b), Number(c)]);
    const child = this.children.get(Number(idText));
    if (!child) return;
    this.deaths = 0;
    child.tr?.mark(`event ${kind}`);
    if (kind === 'S') child.markStarted(Number(a));
    else if (kind === 'E') child.failed(errnoError(Number(a), 'lodge-spawn'));
    else if (kind === 'X') child.markExited(Number(a) === -1 ? null : Number(a), Number(b), Number(c));
  }

  /** A slot lodge-spawn made (its fds of our ends, or -errno): our ends opened, then it goes to a waiting exec or the pool. */
  private onSlot(pid: number, id: number, fds: [number, number, number]): void {
    const next = this.waiting.shift();
    let slot: Slot;
    try {
      if (fds[0] < 0) throw errnoError(-fds[0], 'lodge-spawn making pipes');
      if (!fds.every((fd) => Number.isSafeInteger(fd) && fd >= 0)) throw new Error(`bad slot event ${fds.join(' ')}`);
      const t0 = performance.now();
      slot = openSlot(pid, id, fds);
      for (const child of this.children.values()) child.tr?.mark(`slot ${id} opened in ${(performance.now() - t0).toFixed(1)}`);
    } catch (error) {
      if (next) next.child.failed(new OpError('internal', `exec's pipes: ${describe(error)}`));
      if (fds[0] >= 0 && this.broken === undefined) {
        this.broken = describe(error);
        logError(`lodge-spawn's pipes cannot be opened through /proc (${this.broken}); exec uses Node's spawn from now on`);
      } else logError(`lodge-spawn slot ${id}: ${describe(error)}`);
      return;
    }
    if (next) this.start(next.child, slot, next.fields);
    else this.ready.push(slot);
  }
}
