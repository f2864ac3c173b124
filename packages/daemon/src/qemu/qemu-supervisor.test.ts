import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeQmpServer } from '../qmp/fake-qmp-server.js';
import { QemuSupervisor } from './qemu-supervisor.js';
import type { RuntimeControls } from './runtime-controls.js';

const controls = {
  cpu: { dispose: async () => ({ oomKilled: false }) },
  guest: { dispose: () => undefined },
  disks: {},
} as unknown as RuntimeControls;

describe('QemuSupervisor without an answer on QMP', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  let server: FakeQmpServer | undefined;
  let supervisor: QemuSupervisor | undefined;
  afterEach(async () => {
    supervisor?.detach();
    child?.kill('SIGKILL');
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
    child = server = supervisor = undefined;
  });

  /** A live process standing in for QEMU, and a QMP path nothing listens on yet. */
  const setup = (): { pid: number; files: { qmp: string; console: string; pid: string } } => {
    dir = mkdtempSync(join(tmpdir(), 'lodge-supervisor-'));
    child = spawn('sleep', ['60'], { stdio: 'ignore' });
    const files = { qmp: join(dir, 'qmp.sock'), console: join(dir, 'console.sock'), pid: join(dir, 'qemu.pid') };
    return { pid: child.pid ?? 0, files };
  };

  it('keeps the process, fails QMP calls with a reason, and takes QMP once it answers', async () => {
    const { pid, files } = setup();
    supervisor = new QemuSupervisor(pid, undefined, files, controls);
    const states: boolean[] = [];
    supervisor.onRunState((running) => states.push(running));
    expect(supervisor.monitorReachable).toBe(false);
    await expect(supervisor.pause()).rejects.toThrow(`QEMU (pid ${pid}) is running but does not answer on ${files.qmp}`);
    await expect(supervisor.status()).rejects.toMatchObject({ code: 'conflict', hint: expect.stringMatching(/close any other program connected to that socket/) });

    server = await FakeQmpServer.start();
    server.on('query-status', () => ({ status: 'paused', running: false }));
    symlinkSync(server.path, files.qmp); // the socket becomes reachable at the supervised path
    for (let i = 0; i < 60 && states.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(states).toEqual([false]); // the state QEMU reports once reached, in case it changed meanwhile
    expect(await supervisor.status()).toBe('paused');
    expect(supervisor.monitorReachable).toBe(true);
    expect(process.kill(pid, 0)).toBe(true);
  });

  it('notices the process ending while QMP is out of reach', async () => {
    const { pid, files } = setup();
    supervisor = new QemuSupervisor(pid, undefined, files, controls);
    child?.kill('SIGKILL');
    const info = await supervisor.exited;
    expect(info.reason).toMatch(/QEMU exited unexpectedly/);
  });
});
