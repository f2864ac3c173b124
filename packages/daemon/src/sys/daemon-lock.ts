import { createHash } from 'node:crypto';
import { realpath, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { LodgeError } from '@lodge/api';
import { readPidFile } from './process-info.js';

/** The lock of one data folder: an abstract unix socket (Linux), named after the folder's real path. */
export async function lockName(folder: string): Promise<string> {
  const real = await realpath(folder).catch(() => resolve(folder));
  return `\0lodged-${createHash('sha256').update(real).digest('hex').slice(0, 32)}`;
}

/**
 * One lodged per data folder. The lock is a listening abstract socket: the kernel frees it when its process dies, so
 * there is no stale lock to take over and no guessing whether a pid is still a lodged (by argv, which missed a lodged
 * started from another path). The pid file beside it is for people and tools, and names the holder in the error.
 */
export async function acquireDaemonLock(pidFile: string): Promise<{ release(): Promise<void> }> {
  const folder = dirname(pidFile);
  const server = createServer((socket) => socket.destroy());
  try {
    const name = await lockName(folder);
    await new Promise<void>((ok, fail) => server.once('error', fail).listen(name, ok));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    const holder = await readPidFile(pidFile);
    throw new LodgeError('conflict', `another lodged${holder === undefined ? '' : ` (pid ${holder})`} is already running for ${folder}`, {
      hint: 'use that one, stop it first, or set LODGE_HOME to another folder',
    });
  }
  server.unref(); // the lock never keeps lodged alive on its own
  const mine = `${pidFile}.${process.pid}`;
  await writeFile(mine, `${process.pid}\n`);
  await rename(mine, pidFile); // readers see the old file or the whole new one
  return {
    release: async () => {
      await rm(pidFile, { force: true });
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}
