import { spawn } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import { LodgeError } from '@lodge/api';
import { isRunning, readPidFile, sleep } from '../sys/process-info.js';

const LAUNCH_TIMEOUT_MS = 30_000;

export interface LaunchFiles {
  pid: string;
  /** QEMU's stderr until it daemonizes: the start-up errors users need to see. */
  log: string;
}

/** Last lines of QEMU's stderr, for error messages. */
export async function tailOf(path: string, lines = 6): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-lines).join('\n');
}

/**
 * Runs `qemu -daemonize`: the parent exits once QEMU has initialised (sockets bound), with a non-zero
 * code and a message on stderr if it could not; the daemonized child keeps running on its own.
 */
export async function launchDaemonized(opts: { binary: string; argv: string[]; cwd: string; files: LaunchFiles; signal?: AbortSignal }): Promise<number> {
  const log = await open(opts.files.log, 'w');
  let code: number | null;
  try {
    const child = spawn(opts.binary, opts.argv, { cwd: opts.cwd, stdio: ['ignore', log.fd, log.fd] });
    code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), LAUNCH_TIMEOUT_MS);
      child.once('error', (err) => {
        clearTimeout(timer);
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
        reject(new LodgeError('host_unsupported', `cannot run QEMU at ${opts.binary}: ${err.message}`, {
          hint: missing ? 'install it with: apt-get install qemu-system-x86' : undefined,
          cause: err,
        }));
      });
      child.once('exit', (c) => (clearTimeout(timer), resolve(c)));
    });
  } finally {
    await log.close();
  }
  if (code !== 0) {
    const stderr = await tailOf(opts.files.log);
    throw new LodgeError('qemu_failed', `QEMU exited at start with code ${code ?? 'killed'}: ${stderr || '(no output)'}`, {
      hint: 'see the full output in the VM folder: qemu.log',
    });
  }
  const pid = await readPidFile(opts.files.pid);
  if (pid === undefined) throw new LodgeError('qemu_failed', `QEMU started but wrote no pid file at ${opts.files.pid}`);
  if (opts.signal?.aborted) {
    await killAndWait(pid);
    throw opts.signal.reason;
  }
  return pid;
}

/** SIGKILL and wait until the process is really gone (its sockets and disk locks released). */
export async function killAndWait(pid: number, timeoutMs = 10_000): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while ((await isRunning(pid)) && Date.now() < deadline) await sleep(20);
}
