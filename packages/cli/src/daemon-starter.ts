import { closeSync, fstatSync, openSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DAEMON_NODE_FLAGS, LodgeError, LOG_FILE, SOCKET_FILE } from '@lodge/api/lite';
import { LodgeClient } from '@lodge/client';
import { daemonEntry } from './daemon-entry.js';
import { asLodgeError } from './error-printer.js';

const POLL_MS = 50;
const START_TIMEOUT_MS = 10_000;
const TAIL_LINES = 12;

/** True when the daemon answers; false only when nothing listens (any other failure is real). */
async function answers(client: LodgeClient): Promise<boolean> {
  try {
    await client.ping();
    return true;
  } catch (err) {
    if (asLodgeError(err)?.code === 'daemon_unreachable') return false;
    throw err;
  }
}

/** The lines this start appended to lodged.log: the daemon says there why it did not come up. */
async function logTail(path: string, from: number): Promise<string> {
  const text = (await readFile(path).catch(() => Buffer.alloc(0))).subarray(from).toString('utf8');
  const lines = text.split('\n').filter((l) => l.trim() !== '').slice(-TAIL_LINES);
  return lines.length ? `; last lines of ${path}:\n${lines.map((l) => `    ${l}`).join('\n')}` : ` (${path} says nothing)`;
}

/** A client of the daemon serving root, starting lodged detached when nothing answers there yet. */
export async function connectOrStart(opts: { root: string; env: NodeJS.ProcessEnv }): Promise<LodgeClient> {
  const client = new LodgeClient({ socketPath: join(opts.root, SOCKET_FILE) });
  if (await answers(client)) return client;

  const { spawn } = await import('node:child_process'); // ~6 ms to load: only when lodged must be started
  const entry = daemonEntry(opts.env);
  await mkdir(opts.root, { recursive: true, mode: 0o700 });
  const logPath = join(opts.root, LOG_FILE);
  const fd = openSync(logPath, 'a', 0o600);
  const logStart = fstatSync(fd).size;
  // LODGE_HOME pins the daemon to the folder we poll; cwd "/" so it holds no user folder busy.
  const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, entry], { detached: true, stdio: ['ignore', fd, fd], env: { ...opts.env, LODGE_HOME: opts.root }, cwd: '/' });
  closeSync(fd);
  child.unref();
  let exit: string | undefined;
  child.once('exit', (code, signal) => (exit = signal ? `signal ${signal}` : `code ${code}`));
  child.once('error', (err) => (exit = err.message));

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    await sleep(POLL_MS);
    const exitedBefore = exit; // read before the ping: another lodged may have won the race to the socket
    if (await answers(client).catch(() => false)) return client;
    if (exitedBefore !== undefined) {
      throw new LodgeError('daemon_unreachable', `lodged exited with ${exitedBefore} before answering${await logTail(logPath, logStart)}`, {
        hint: 'run it in the foreground to see more: lodge daemon',
      });
    }
  }
  throw new LodgeError('daemon_unreachable', `lodged did not answer on ${client.socketPath} within ${START_TIMEOUT_MS / 1000} s${await logTail(logPath, logStart)}`, {
    hint: `it may still be starting (pid ${child.pid ?? '?'}); run it in the foreground to see more: lodge daemon`,
  });
}
