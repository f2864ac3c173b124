// The agent's side of lodge-spawn (native/lodge-spawn.c): requests on its stdin, events from its stdout, and the
// unix socket the children's stdio connects to. Restarted when it dies; given up for Node's spawn after repeated deaths.

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { LineReader } from './line-reader.js';
import { describe, logError } from './log.js';
import { OpError } from './op-error.js';
import { SpawnedChild, errnoError } from './spawned-child.js';

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
const MAX_HEADER = 32;

export class Spawner {
  private proc: ChildProcess | undefined;
  private readonly children = new Map<number, SpawnedChild>();
  /** Pooled stdout/stderr pairs lodge-spawn connected ahead of time, by slot, until a child's S event claims them. */
  private readonly pool = new Map<number, Socket[]>();
  /** Children whose S event named a slot whose sockets have not all been accepted yet. */
  private readonly slotOwners = new Map<number, SpawnedChild>();
  /** Slots of children that failed to start, with how many of their sockets are still to come and be closed. */
  private readonly droppedSlots = new Map<number, number>();
  private nextId = 1;
  private deaths = 0;

  private constructor(private readonly binary: string, private readonly server: Server) {}

  /** Listens on `socket` (0600, for root's children only) and starts `binary`. */
  static async start(binary: string, socket: string): Promise<Spawner> {
    mkdirSync(dirname(socket), { recursive: true, mode: 0o755 });
    rmSync(socket, { force: true });
    const server = createServer((s) => spawner.accept(s));
    const spawner = new Spawner(binary, server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => resolve());
    });
    chmodSync(socket, 0o600);
    server.on('error', (error) => logError(`spawn socket: ${error.message}`));
    spawner.launch(socket);
    return spawner;
  }

  /** False once lodge-spawn keeps dying: exec then uses Node's spawn. */
  usable(): boolean {
    return this.deaths < MAX_DEATHS;
  }

  spawn(request: SpawnRequest): SpawnedChild {
    const env = Object.entries(request.env).map(([k, v]) => `${k}=${v}`);
    const bad = [...request.argv, ...env, request.cwd].find((f) => f.includes('\0'));
    if (bad !== undefined) throw new OpError('invalid_argument', `argv, env and cwd must not contain NUL bytes (${JSON.stringify(bad.slice(0, 64))})`);
    if (!this.proc) this.launch(this.server.address() as string);
    const id = this.nextId++;
    const child = new SpawnedChild(id, request.stdin, (signo) => this.send(['k', String(id), String(signo)]));
    this.children.set(id, child);
    child.once('exit', () => this.children.delete(id));
    child.once('error', () => this.children.delete(id));
    const u = request.user;
    this.send(['x', String(id), request.stdin ? '1' : '0', u ? String(u.uid) : '', u ? String(u.gid) : '', u ? u.groups.join(',') : '', request.cwd, String(request.argv.length), ...request.argv, ...env]);
    return child;
  }

  async close(): Promise<void> {
    this.proc?.stdin?.end();
    this.proc = undefined;
    for (const pair of this.pool.values()) for (const socket of pair) socket?.destroy();
    this.pool.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The running lodge-spawn's pid (tests kill it). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  private launch(socket: string): void {
    const proc = spawn(this.binary, [socket], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.proc = proc;
    const lines = new LineReader(256);
    proc.stdout?.on('data', (chunk: Buffer) => {
      for (const line of lines.push(chunk)) this.onEvent(line);
    });
    proc.stdin?.on('error', () => undefined);
    const died = (why: string): void => {
      if (this.proc !== proc) return;
      this.proc = undefined;
      this.deaths++;
      const lost = [...this.children.values()];
      this.children.clear();
      this.slotOwners.clear();
      this.droppedSlots.clear();
      for (const pair of this.pool.values()) for (const socket of pair) socket?.destroy();
      this.pool.clear();
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

  private onEvent(line: string): void {
    const [kind, idText, a = '', b = ''] = line.split(' ');
    const child = this.children.get(Number(idText));
    if (!child) return;
    this.deaths = 0;
    if (kind === 'S') {
      child.markStarted(Number(a));
      const slot = Number(b);
      if (slot > 0) this.claimSlot(slot, child);
    }
    else if (kind === 'E') {
      if (Number(b) > 0) this.dropSlot(Number(b));
      child.failed(errnoError(Number(a), 'lodge-spawn'));
    }
    else if (kind === 'X') child.markExited(Number(a) === -1 ? null : Number(a), Number(b));
  }

  /** A pooled stdout (channel 1) or stderr (2): kept until an S event names its slot, dropped if it closes first. */
  private pooled(slot: number, channel: number, socket: Socket): void {
    if (!Number.isSafeInteger(slot) || slot < 1 || (channel !== 1 && channel !== 2)) return void socket.destroy();
    const owner = this.slotOwners.get(slot);
    if (owner) {
      owner.attach(channel, socket);
      if (owner.stdout && owner.stderr) this.slotOwners.delete(slot);
      return;
    }
    const dropped = this.droppedSlots.get(slot);
    if (dropped !== undefined) {
      socket.destroy();
      if (dropped === 1) this.droppedSlots.delete(slot);
      else this.droppedSlots.set(slot, dropped - 1);
      return;
    }
    // Kept even if it closes first: a quick program's output and end may arrive before the S event naming its slot.
    const pair = this.pool.get(slot) ?? [];
    pair[channel] = socket;
    this.pool.set(slot, pair);
  }

  /** The slot of a child that failed to start: its pair (now or when it arrives) is closed. */
  private dropSlot(slot: number): void {
    const pair = this.pool.get(slot);
    this.pool.delete(slot);
    const missing = 2 - (pair?.filter(Boolean).length ?? 0);
    for (const socket of pair ?? []) socket?.destroy();
    if (missing > 0) this.droppedSlots.set(slot, missing);
  }

  private claimSlot(slot: number, child: SpawnedChild): void {
    const pair = this.pool.get(slot);
    this.pool.delete(slot);
    for (const channel of [1, 2] as const) {
      const socket = pair?.[channel];
      if (socket) child.attach(channel, socket);
    }
    if (!child.stdout || !child.stderr) this.slotOwners.set(slot, child);
  }

  /** A child's stdio connection: its header line "ID CH" says whose and which. */
  private accept(socket: Socket): void {
    socket.on('error', () => undefined);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const nl = head.indexOf(10);
      if (nl === -1) {
        if (head.length > MAX_HEADER) socket.destroy();
        return;
      }
      socket.removeListener('data', onData);
      socket.pause();
      if (nl + 1 < head.length) socket.unshift(head.subarray(nl + 1));
      const words = head.subarray(0, nl).toString().split(' ');
      if (words[0] === 'P') return this.pooled(Number(words[1]), Number(words[2]), socket);
      const [id, channel] = words.map(Number);
      const child = this.children.get(id as number);
      if (!child || (channel !== 0 && channel !== 1 && channel !== 2)) return void socket.destroy();
      child.attach(channel, socket);
    };
    socket.on('data', onData);
  }
}
