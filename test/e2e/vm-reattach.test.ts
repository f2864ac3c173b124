import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VmInfo } from '@lodge/api';
import { BOOT_MARKER, DAEMON, pidsMentioning, TestLodge } from './harness.js';

describe('several VMs, and VMs outliving the daemon', () => {
  const lodge = new TestLodge();
  const names = ['one', 'two', 'three'];
  beforeAll(() => lodge.startDaemon());
  afterAll(() => lodge.cleanup());

  it('runs three VMs at once', async () => {
    for (const name of names) expect((await lodge.cli(['create', name, '--memory', '192M'])).code).toBe(0);
    const r = await lodge.cli(['start', ...names]);
    expect(r.code, r.stderr).toBe(0);
    await Promise.all(names.map((n) => lodge.waitForConsole(n, BOOT_MARKER, 120_000)));
    const list = await lodge.cliJson<VmInfo[]>(['list']);
    expect(list.map((v) => [v.name, v.state])).toEqual([['one', 'running'], ['three', 'running'], ['two', 'running']]);
    const pids = new Set(list.map((v) => v.pid));
    expect(pids.size).toBe(3);
  });

  it('kill -9 of lodged leaves the VMs running; the next lodged re-attaches to each', async () => {
    await lodge.client.wait(await lodge.client.stop('three', { force: true }));
    const before = await lodge.client.list();
    await lodge.killDaemon();
    for (const vm of before.filter((v) => v.state === 'running')) expect(process.kill(vm.pid ?? 0, 0)).toBe(true);

    await lodge.startDaemon();
    const after = await lodge.client.list();
    expect(after.map((v) => [v.name, v.state, v.pid])).toEqual(before.map((v) => [v.name, v.state, v.pid]));
    // Re-attached for real: QMP answers (pause/resume) and the console is reachable.
    expect((await lodge.cli(['pause', 'one'])).code).toBe(0);
    expect((await lodge.client.get('one')).state).toBe('paused');
    expect((await lodge.cli(['resume', 'one'])).code).toBe(0);
    const con = await lodge.cli(['console', 'two'], { input: 'echo still-here-$((40+2))\n' });
    expect(con.stdout).toContain('still-here-42');
  });

  it('a VM whose QEMU died while the daemon was down is marked stopped with the reason', async () => {
    const two = await lodge.client.get('two');
    await lodge.killDaemon();
    process.kill(two.pid ?? 0, 'SIGKILL');
    await lodge.startDaemon();
    const info = await lodge.client.get('two');
    expect(info.state).toBe('stopped');
    expect(info.stateReason).toMatch(/exited while lodged was not running/);
    expect((await lodge.client.get('one')).state).toBe('running');
  });

  it('a QEMU killed under a running daemon is noticed at once', async () => {
    const one = await lodge.client.get('one');
    process.kill(one.pid ?? 0, 'SIGKILL');
    for (let i = 0; i < 100 && (await lodge.client.get('one')).state !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 50));
    const info = await lodge.client.get('one');
    expect(info.state).toBe('stopped');
    expect(info.stateReason).toMatch(/QEMU exited unexpectedly/);
  });

  it('a VM caught mid-start by a daemon crash has its QEMU ended, not orphaned', async () => {
    expect((await lodge.cli(['start', 'three'])).code).toBe(0);
    const three = await lodge.client.get('three');
    await lodge.killDaemon();
    // What a crash between launching QEMU and recording its pid leaves behind.
    const db = new Database(join(lodge.home, 'lodge.db'));
    db.prepare("UPDATE vms SET state = 'starting', pid = NULL WHERE name = 'three'").run();
    db.close();
    await lodge.startDaemon();
    const info = await lodge.client.get('three');
    expect(info.state).toBe('stopped');
    expect(info.stateReason).toMatch(/while the VM was starting; its QEMU was ended/);
    expect(await pidsMentioning(three.folder)).toEqual([]);
  });

  it('a lodged that finds qmp.sock held by another program keeps the VM, works through the agent, and takes QMP once free', async () => {
    expect((await lodge.cli(['start', 'two'])).code).toBe(0);
    const two = await lodge.client.get('two');
    const hold = async (): Promise<Socket> => {
      const sock = connect(join(two.folder, 'qmp.sock'));
      await new Promise<void>((resolve, reject) => sock.once('data', () => resolve()).once('error', reject)); // QEMU's greeting: it is ours
      return sock;
    };
    await lodge.killDaemon();
    let holder = await hold();
    try {
      await lodge.startDaemon();
      const info = await lodge.client.get('two');
      expect([info.state, info.pid, info.monitor], info.stateReason).toEqual(['running', two.pid, 'unreachable']);
      expect((await lodge.cli(['info', 'two'])).stdout).toMatch(/monitor:\s+unreachable: QEMU does not answer on .*qmp\.sock/);
      expect((await lodge.cli(['list'])).stdout).toMatch(/^two\s+running\s.*QMP unreachable: lodge info two$/m);
      expect((await lodge.cli(['exec', 'two', '--', 'echo', 'agent-ok'])).stdout).toBe('agent-ok\n');
      const paused = await lodge.cli(['pause', 'two']);
      expect(paused.code).not.toBe(0);
      expect(paused.stderr).toMatch(/does not answer on .*qmp\.sock/);
      expect(paused.stderr).toMatch(/QEMU serves one QMP client at a time/);

      holder.destroy(); // the other program lets go: lodged's next try takes the socket
      let r = await lodge.cli(['pause', 'two']);
      for (let i = 0; i < 40 && r.code !== 0; i++) (await new Promise((w) => setTimeout(w, 250))), (r = await lodge.cli(['pause', 'two']));
      expect(r.code, r.stderr).toBe(0);
      expect(await lodge.client.get('two')).toMatchObject({ state: 'paused', monitor: 'connected' });
      expect((await lodge.cli(['info', 'two'])).stdout).not.toMatch(/monitor/);
      expect((await lodge.cli(['list'])).stdout).not.toMatch(/QMP/);
      expect((await lodge.cli(['resume', 'two'])).code).toBe(0);

      // Held again across a restart: lodge stop goes through the guest agent.
      await lodge.killDaemon();
      holder = await hold();
      await lodge.startDaemon();
      const stop = await lodge.cli(['stop', 'two']);
      expect(stop.code, stop.stderr).toBe(0);
      const stopped = await lodge.client.get('two');
      expect(stopped.state).toBe('stopped');
      expect(stopped.stateReason).toBe('stopped by user: QEMU did not answer on QMP; the guest agent powered it off');
      expect(await pidsMentioning(two.folder)).toEqual([]);
    } finally {
      holder.destroy();
    }
  });

  it('a second lodged for the same folder refuses to run, also when the first was started from another path', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'lodge-other-'));
    const entry = join(elsewhere, 'server.js'); // nothing in its argv says lodged
    symlinkSync(DAEMON, entry);
    await lodge.killDaemon();
    const first = spawn(process.execPath, [entry], { env: lodge.env, stdio: 'ignore' });
    try {
      for (let i = 0; i < 200 && !(await lodge.client.ping().then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 50));
      const second = spawnSync(process.execPath, [DAEMON], { env: lodge.env, encoding: 'utf8', timeout: 30_000 });
      expect(second.status, second.stderr).not.toBe(0);
      expect(second.stderr).toContain(`another lodged (pid ${first.pid}) is already running for ${lodge.home}`);
      expect(await lodge.client.ping().then(() => true)).toBe(true); // the first one still serves
    } finally {
      const gone = new Promise((r) => first.once('exit', r));
      first.kill('SIGKILL');
      await gone;
      rmSync(elsewhere, { recursive: true, force: true });
    }
    await lodge.startDaemon();
  });

  it('the event stream reported the lifecycle', async () => {
    const events = await lodge.client.events({ since: 0 });
    const seen: string[] = [];
    const timer = setTimeout(() => events.close(), 1000);
    for await (const ev of events) if (ev.type === 'vm.state' && ev.vm === 'one') seen.push(ev.to);
    clearTimeout(timer);
    expect(seen).toEqual(expect.arrayContaining(['starting', 'running', 'paused', 'stopped']));
  });
});
