import { link, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LodgeError } from '@lodge/api';
import { isRunning, processArgv, readPidFile } from './process-info.js';

/** A pid whose process is a lodged (not some other program that reused the number). */
async function isLodged(pid: number): Promise<boolean> {
  const argv = await processArgv(pid);
  return (await isRunning(pid)) && (argv ?? []).some((a) => /lodged|daemon\/dist\/main\.js/.test(a));
}

/**
 * One lodged per data folder: the pid file is the lock, created atomically with link().
 * A stale one (its daemon died without cleaning up) is taken over.
 */
export async function acquireDaemonLock(pidFile: string): Promise<{ release(): Promise<void> }> {
  const mine = `${pidFile}.${process.pid}`;
  await writeFile(mine, `${process.pid}\n`);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(mine, pidFile);
        return { release: () => rm(pidFile, { force: true }) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const holder = await readPidFile(pidFile);
        if (holder !== undefined && holder !== process.pid && (await isLodged(holder))) {
          throw new LodgeError('conflict', `another lodged (pid ${holder}) is already running for ${dirname(pidFile)}`, {
            hint: 'use that one, stop it first, or set LODGE_HOME to another folder',
          });
        }
        await rm(pidFile, { force: true });
      }
    }
    throw new LodgeError('conflict', `could not take the daemon lock ${pidFile}`, { hint: 'another lodged is starting; try again' });
  } finally {
    await rm(mine, { force: true });
  }
}
