import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { DAEMON_NODE_FLAGS, type ImageEntry } from '@lodge/api';
import { LodgeClient } from '@lodge/client';
import { buildImage } from '../../packages/daemon/src/images/image-store.js';
import { removeHomeGroups } from './vm-cgroup.js';

export const REPO = resolve(import.meta.dirname, '../..');
/** What the micro image's init prints on the console once it runs. */
export const BOOT_MARKER = 'lodge-micro: init reached';
export const IMAGES_DIR = process.env.LODGE_TEST_IMAGES ?? join(REPO, 'test/.cache/images');
export const DAEMON = join(REPO, 'packages/daemon/dist/main.js');
/** The lodge command as users run it: the bundle (global-setup rebuilds it when tsc's output changed). */
export const CLI = join(REPO, 'packages/cli/bundle/lodge.js');
const run = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Builds (or finds) a known image in the shared test cache, through the store's build lock: test files running side
 * by side that need the same image build it once.
 */
export function buildTestImage(name: string): Promise<{ image: ImageEntry; cached: boolean }> {
  return buildImage(name, { imagesDir: IMAGES_DIR });
}

/** Pids of every process whose command line mentions `needle` (our QEMUs name files in the home). */
export async function pidsMentioning(needle: string): Promise<number[]> {
  const { stdout } = await run('pgrep', ['-f', needle]).catch(() => ({ stdout: '' }));
  return stdout.split('\n').filter(Boolean).map(Number).filter((p) => p !== process.pid);
}

function readFileOr(path: string, fallback = ''): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Runs `sh -c script` in the guest through the agent's own exec (its fork server, lodge-spawn): with more variables
 * than lodge-port takes (256), which runs the others itself. Resolves with its stdout.
 */
export async function execThroughAgent(client: LodgeClient, vm: string, script: string): Promise<string> {
  const env = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`V${i}`, String(i)]));
  let out = '';
  const session = await client.exec(vm, { argv: ['sh', '-c', script], env }, { stdout: (c) => void (out += c.toString()), stderr: () => undefined });
  const { exitCode } = await session.result;
  if (exitCode !== 0) throw new Error(`${script} exited ${String(exitCode)}`);
  return out;
}

/** An isolated Lodge: its own short LODGE_HOME, the shared image cache, a real lodged. */
export class TestLodge {
  /** Short (unix socket paths are), and made on first use: a skipped suite leaves no folder. */
  readonly home = `/tmp/lt-${randomBytes(4).toString('hex')}`;
  readonly env: NodeJS.ProcessEnv;
  readonly client: LodgeClient;
  daemon: ChildProcess | undefined;

  constructor(extraEnv: NodeJS.ProcessEnv = {}) {
    this.env = { ...process.env, LODGE_HOME: this.home, LODGE_IMAGES_DIR: IMAGES_DIR, LODGE_DAEMON: DAEMON, ...extraEnv };
    this.client = new LodgeClient({ socketPath: join(this.home, 'lodged.sock') });
  }

  ensureHome(): string {
    mkdirSync(this.home, { recursive: true, mode: 0o700 });
    return this.home;
  }

  /** Starts lodged in the foreground of a child process and waits until it answers. */
  async startDaemon(extraEnv: NodeJS.ProcessEnv = {}): Promise<void> {
    this.ensureHome();
    const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, DAEMON], { env: { ...this.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    this.daemon = child;
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null) throw new Error(`lodged exited with ${child.exitCode}: ${output}`);
      if (await this.client.ping().then(() => true, () => false)) return;
      await sleep(50);
    }
    throw new Error(`lodged did not answer within 10 s: ${output}`);
  }

  /** kill -9 of the daemon: VMs must survive it. */
  async killDaemon(): Promise<void> {
    const child = this.daemon;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  /** `env` adds to (or overrides) this home's environment for this one command. */
  cli(args: string[], opts: { input?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
    this.ensureHome();
    return new Promise((resolvePromise) => {
      // Run as a user runs it: through its #! line (which drops what lodge does not use from Node's start).
      const child = spawn(CLI, args, { env: { ...this.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
      child.on('close', (code) => (clearTimeout(timer), resolvePromise({ code: code ?? -1, stdout, stderr })));
      child.stdin.end(opts.input ?? '');
    });
  }

  async cliJson<T>(args: string[]): Promise<T> {
    const r = await this.cli([...args, '--json']);
    if (r.code !== 0) throw new Error(`lodge ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  consoleLog(vm: string): string {
    return readFileOr(join(this.home, 'vms', vm, 'console.log'));
  }

  async waitForConsole(vm: string, text: string | RegExp, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const found = (): boolean => (typeof text === 'string' ? this.consoleLog(vm).includes(text) : text.test(this.consoleLog(vm)));
    while (!found()) {
      if (Date.now() > deadline) throw new Error(`console of ${vm} did not show ${String(text)} within ${timeoutMs} ms:\n${this.consoleLog(vm).slice(-2000)}`);
      await sleep(100);
    }
  }

  /** create + start through the CLI, then wait for the guest's init: a VM whose console answers. */
  async bootVm(name: string, createArgs: string[] = ['--memory', '192M']): Promise<void> {
    for (const args of [['create', name, ...createArgs], ['start', name]]) {
      const r = await this.cli(args);
      if (r.code !== 0) throw new Error(`lodge ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    }
    await this.waitForConsole(name, BOOT_MARKER);
  }

  /** Everything this home started ends here, whatever state the test left it in. */
  async cleanup(): Promise<void> {
    await this.killDaemon();
    const autoStarted = Number.parseInt(readFileOr(join(this.home, 'lodged.pid')), 10);
    if (autoStarted > 1) killQuietly(autoStarted);
    for (const pid of await pidsMentioning(this.home)) killQuietly(pid);
    for (let i = 0; i < 100 && (await pidsMentioning(this.home)).length > 0; i++) await sleep(50);
    await removeHomeGroups(this.home); // a killed lodged cannot remove its VMs' cgroups
    await rm(this.home, { recursive: true, force: true });
  }
}
