import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DAEMON_NODE_FLAGS } from '@lodge/api';
import { LodgeClient } from '@lodge/client';

export const REPO = resolve(import.meta.dirname, '../..');
const DAEMON = join(REPO, 'packages/daemon/dist/main.js');
const CLI = join(REPO, 'packages/cli/bundle/lodge.js');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** Busy and total CPU time of the whole host so far, from /proc/stat (clock ticks). */
function hostCpu(): { busy: number; total: number } {
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/**
 * Waits until the host's CPUs are under `share` busy in two 1 s windows in a row, at most `maxMs`: after a VM's boot
 * (and after a test run) the host and the guest keep working for a while, which is not what a bench times. Returns
 * how long it took.
 */
export async function settle(share = 0.1, maxMs = 60_000): Promise<number> {
  const t0 = performance.now();
  let quiet = 0;
  while (quiet < 2 && performance.now() - t0 < maxMs) {
    const a = hostCpu();
    await sleep(1000);
    const b = hostCpu();
    quiet = b.busy - a.busy < share * (b.total - a.total) ? quiet + 1 : 0;
  }
  return performance.now() - t0;
}

export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((res) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => res({ code: code ?? -1, out }));
  });
}

/** A private Lodge for one benchmark run: its own home and daemon, removed at the end. */
export class BenchLodge {
  readonly home = mkdtempSync('/tmp/lb-');
  readonly env: NodeJS.ProcessEnv;
  readonly client = new LodgeClient({ socketPath: join(this.home, 'lodged.sock') });
  private daemon: ChildProcess | undefined;
  private trapped = false;

  constructor() {
    this.env = { ...process.env, LODGE_HOME: this.home, LODGE_IMAGES_DIR: process.env.LODGE_IMAGES_DIR ?? join(REPO, 'test/.cache/images') };
  }

  /** Starts lodged; `image`: build it first when the cache's copy is missing or older than its recipe (a hit is free). */
  async start(image?: string): Promise<void> {
    if (!this.trapped) {
      this.trapped = true;
      // A bench cut short (timeout, Ctrl-C) must not leave its VMs running.
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void this.close().finally(() => process.exit(130)));
    }
    this.daemon = spawn(process.execPath, [...DAEMON_NODE_FLAGS, DAEMON], { env: this.env, stdio: 'ignore' });
    for (let i = 0; i < 200 && !(await this.client.ping().then(() => true, () => false)); i++) await sleep(50);
    if (image === undefined) return;
    const built = await this.lodge(['image', 'build', image]);
    if (built.code !== 0) throw new Error(`lodge image build ${image}: ${built.out}`);
  }

  /** SIGTERM: lodged detaches from its VMs and exits; they keep running. */
  async stopDaemon(): Promise<void> {
    const d = this.daemon;
    if (!d || d.exitCode !== null) return;
    const exited = new Promise((r) => d.once('exit', r));
    d.kill('SIGTERM');
    await exited;
  }

  /** The CLI run as a user runs it, through its #! line. */
  lodge(args: string[]): Promise<{ code: number; out: string }> {
    return run(CLI, args, this.env);
  }

  /** Runs a shell command line in which `lodge` is this checkout's CLI against this daemon. */
  shell(line: string): Promise<{ code: number; out: string }> {
    return run('/bin/sh', ['-c', `lodge() { "${CLI}" "$@"; }; ${line}`], this.env);
  }

  async close(): Promise<void> {
    for (const vm of await this.client.list().catch(() => [])) await this.client.delete(vm.name, { force: true }).catch(() => undefined);
    this.daemon?.kill('SIGTERM');
    await sleep(200);
    await run('pkill', ['-9', '-f', this.home], process.env);
    await rm(this.home, { recursive: true, force: true });
  }
}
