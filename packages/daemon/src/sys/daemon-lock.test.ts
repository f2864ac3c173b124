import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireDaemonLock } from './daemon-lock.js';

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function tempPidFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lodge-lock-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'lodged.pid');
}

/** A live process whose argv looks like (or unlike) a lodged. */
function holder(argv: string[]): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', ...argv], { stdio: 'ignore' });
  cleanups.push(() => child.kill('SIGKILL'));
  return child;
}

describe('daemon lock', () => {
  it('writes our pid and releases it', async () => {
    const pidFile = tempPidFile();
    const lock = await acquireDaemonLock(pidFile);
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(process.pid));
    await lock.release();
    expect(existsSync(pidFile)).toBe(false);
  });

  it('refuses while another lodged holds it', async () => {
    const pidFile = tempPidFile();
    const other = holder(['/opt/lodge/packages/daemon/dist/main.js']);
    writeFileSync(pidFile, `${other.pid}\n`);
    await expect(acquireDaemonLock(pidFile)).rejects.toThrow(/another lodged \(pid \d+\) is already running/);
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(other.pid));
  });

  it('takes over a stale lock: dead pid, or a pid reused by another program', async () => {
    const pidFile = tempPidFile();
    writeFileSync(pidFile, '999999999\n');
    await (await acquireDaemonLock(pidFile)).release();
    const unrelated = holder(['not-a-daemon']);
    writeFileSync(pidFile, `${unrelated.pid}\n`);
    await acquireDaemonLock(pidFile);
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(process.pid));
  });
});
