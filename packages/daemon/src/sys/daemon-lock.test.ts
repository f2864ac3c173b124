import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireDaemonLock, lockName } from './daemon-lock.js';

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function tempPidFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lodge-lock-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'lodged.pid');
}

/** Another process (any program, from any path) holding the folder's lock; resolves once it listens. */
async function otherHolder(pidFile: string): Promise<ChildProcess> {
  const name = await lockName(join(pidFile, '..'));
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(name)}, () => console.log('held'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => child.kill('SIGKILL'));
  await new Promise((r) => child.stdout?.once('data', r));
  return child;
}

describe('daemon lock', () => {
  it('writes our pid and releases it; the folder can be locked again after', async () => {
    const pidFile = tempPidFile();
    const lock = await acquireDaemonLock(pidFile);
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(process.pid));
    await expect(acquireDaemonLock(pidFile)).rejects.toThrow(`another lodged (pid ${process.pid}) is already running for ${join(pidFile, '..')}`);
    await lock.release();
    expect(existsSync(pidFile)).toBe(false);
    await (await acquireDaemonLock(pidFile)).release();
  });

  it('refuses while another process holds it, whatever its argv and whatever the pid file says', async () => {
    const pidFile = tempPidFile();
    const other = await otherHolder(pidFile);
    writeFileSync(pidFile, `${other.pid}\n`);
    await expect(acquireDaemonLock(pidFile)).rejects.toThrow(/another lodged \(pid \d+\) is already running/);
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(other.pid)); // left as it was
    rmSync(pidFile);
    await expect(acquireDaemonLock(pidFile)).rejects.toThrow(/^another lodged is already running/);
  });

  it('is free the moment its holder dies: no stale lock, and a stale pid file is replaced', async () => {
    const pidFile = tempPidFile();
    const other = await otherHolder(pidFile);
    writeFileSync(pidFile, `${other.pid}\n`);
    other.kill('SIGKILL');
    await new Promise((r) => other.once('exit', r));
    const lock = await acquireDaemonLock(pidFile);
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(process.pid));
    await lock.release();
  });

  it('is one lock per folder: another folder locks independently', async () => {
    const a = await acquireDaemonLock(tempPidFile());
    const b = await acquireDaemonLock(tempPidFile());
    await Promise.all([a.release(), b.release()]);
  });
});
