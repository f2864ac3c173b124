import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cont, QmpMonitor, queryCpusFast, queryStatus, queryVersion, quit, stop } from '../../packages/daemon/src/qmp/index.js';

// Our QMP client against a real QEMU 7.2 under TCG: no kernel, no disks, so the guest just sits in firmware.

let dir: string;
let qemu: ChildProcess;
let stderr = '';
let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
let m: QmpMonitor;

async function connectWhenReady(path: string, deadlineMs: number): Promise<QmpMonitor> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    // QEMU creates the socket during start-up; until then connect fails with ENOENT or ECONNREFUSED.
    if (existsSync(path)) {
      try {
        return await QmpMonitor.connect({ path, timeoutMs: 5_000 });
      } catch (err) {
        if (Date.now() > until) throw err;
      }
    }
    if (Date.now() > until) throw new Error(`QEMU did not create ${path}; stderr: ${stderr}`);
    if (qemu.exitCode !== null) throw new Error(`QEMU exited with ${qemu.exitCode}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lodge-qmp-e2e-'));
  const sock = join(dir, 'qmp.sock');
  qemu = spawn('qemu-system-x86_64', [
    '-accel', 'tcg', '-S', '-nodefaults', '-display', 'none', '-M', 'q35', '-m', '64M',
    '-qmp', `unix:${sock},server=on,wait=off`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  qemu.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  exited = new Promise((resolve) => qemu.on('exit', (code, signal) => resolve({ code, signal })));
  m = await connectWhenReady(sock, 15_000);
}, 30_000);

afterAll(() => {
  m?.close();
  if (qemu && qemu.exitCode === null && qemu.signalCode === null) qemu.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('QMP against real QEMU', () => {
  it('negotiated and reports its version', async () => {
    expect(m.greeting.version.qemu.major).toBeGreaterThanOrEqual(7);
    expect(m.greeting.capabilities).toContain('oob');
    const v = await queryVersion(m);
    expect(v.qemu).toEqual(m.greeting.version.qemu);
    expect(typeof v.package).toBe('string');
  });

  it('starts paused (-S), then runs after cont and pauses after stop', async () => {
    const before = await queryStatus(m);
    expect(['prelaunch', 'paused']).toContain(before.status);
    expect(before.running).toBe(false);

    const resumed = m.waitForEvent('RESUME', { timeoutMs: 5_000 });
    await cont(m);
    expect((await resumed).timestamp?.seconds).toBeGreaterThan(0);
    expect(await queryStatus(m)).toEqual({ status: 'running', running: true });

    const stopped = m.waitForEvent('STOP', { timeoutMs: 5_000 });
    await stop(m);
    await stopped;
    expect(await queryStatus(m)).toEqual({ status: 'paused', running: false });
  });

  it('lists one vCPU with a host thread id', async () => {
    const cpus = await queryCpusFast(m);
    expect(cpus).toHaveLength(1);
    expect(cpus[0]).toMatchObject({ cpuIndex: 0, target: 'x86_64' });
    expect(cpus[0]?.threadId).toBeGreaterThan(0);
  });

  it('a failing command yields a QmpError and leaves the connection usable', async () => {
    await expect(m.execute('no-such-command')).rejects.toThrow(/QMP command "no-such-command" failed: CommandNotFound: /);
    expect(m.closed).toBe(false);
  });

  it('quit makes QEMU exit and closes the monitor', async () => {
    const shutdown = m.waitForEvent('SHUTDOWN', { timeoutMs: 5_000 });
    const closed = new Promise<Error | undefined>((r) => m.onClose(r));
    await quit(m); // QEMU 7.2 replies {"return": {}} before closing; quit() would also accept a close first
    expect((await shutdown).data).toMatchObject({ guest: false, reason: 'host-qmp-quit' });
    await closed;
    expect(m.closed).toBe(true);
    expect(await exited).toEqual({ code: 0, signal: null });
  });
});
