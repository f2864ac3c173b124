import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VmInfo } from '@lodge/api';
import { BOOT_MARKER, IMAGES_DIR, pidsMentioning, TestLodge } from './harness.js';

async function stopReasons(lodge: TestLodge, vm: string): Promise<(string | undefined)[]> {
  const events = await lodge.client.events({ since: 0, vm });
  const reasons: (string | undefined)[] = [];
  const timer = setTimeout(() => events.close(), 500);
  for await (const ev of events) if (ev.type === 'vm.state' && ev.to === 'stopped') reasons.push(ev.reason);
  clearTimeout(timer);
  return reasons;
}

describe('a VM from create to delete, through the CLI', () => {
  const lodge = new TestLodge();
  beforeAll(() => lodge.startDaemon());
  afterAll(() => lodge.cleanup());

  it('creates a stopped VM with a disk overlay in its folder', async () => {
    const r = await lodge.cli(['create', 'alpha', '--cpus', '1', '--memory', '256M', '--disk', '1G']);
    expect(r.code, r.stderr).toBe(0);
    const info = await lodge.cliJson<VmInfo>(['info', 'alpha']);
    expect(info.state).toBe('stopped');
    expect(info.spec).toMatchObject({ cpus: 1, memory: 256 * 2 ** 20, disk: 2 ** 30, image: 'micro' });
    expect(existsSync(join(info.folder, 'disk.qcow2'))).toBe(true);
  });

  it('starts it and the console reaches a shell', async () => {
    const r = await lodge.cli(['start', 'alpha']);
    expect(r.code, r.stderr).toBe(0);
    expect((await lodge.cliJson<VmInfo>(['info', 'alpha'])).state).toBe('running');
    await lodge.waitForConsole('alpha', BOOT_MARKER);
    const con = await lodge.cli(['console', 'alpha'], { input: 'echo sum=$((6*7))\nuname -r\n' });
    expect(con.code, con.stderr).toBe(0);
    expect(con.stdout).toContain('sum=42');
    expect(con.stdout).toMatch(/\d+\.\d+\.\d+-\d+-cloud-amd64/);
  });

  it('pauses and resumes', async () => {
    expect((await lodge.cli(['pause', 'alpha'])).code).toBe(0);
    expect((await lodge.cliJson<VmInfo>(['info', 'alpha'])).state).toBe('paused');
    const again = await lodge.cli(['pause', 'alpha']);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('it is paused');
    expect((await lodge.cli(['resume', 'alpha'])).code).toBe(0);
    expect((await lodge.cliJson<VmInfo>(['info', 'alpha'])).state).toBe('running');
    const con = await lodge.cli(['console', 'alpha'], { input: 'echo after-resume\n' });
    expect(con.stdout).toContain('after-resume');
  });

  it('shows the console log', async () => {
    const r = await lodge.cli(['logs', 'alpha']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(BOOT_MARKER);
  });

  it('refuses to delete a running VM without --force', async () => {
    const r = await lodge.cli(['delete', 'alpha']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot delete VM "alpha": it is running/);
    expect(r.stderr).toContain('hint:');
  });

  it('stops gracefully: the guest powers off on ACPI, no QEMU is left', async () => {
    const pid = (await lodge.cliJson<VmInfo>(['info', 'alpha'])).pid;
    const r = await lodge.cli(['stop', 'alpha', '--timeout', '60']);
    expect(r.code, r.stderr).toBe(0);
    const info = await lodge.cliJson<VmInfo>(['info', 'alpha']);
    expect(info.state).toBe('stopped');
    expect(info.stateReason).toBe('stopped by user');
    expect(info.pid).toBeUndefined();
    for (let i = 0; i < 40 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 50)); // init reaps it
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(readdirSync(info.folder).filter((f) => f.endsWith('.sock') || f.endsWith('.pid'))).toEqual([]);
  });

  it('restarts (stop + start) and force-stops', async () => {
    expect((await lodge.cli(['start', 'alpha'])).code).toBe(0);
    await lodge.waitForConsole('alpha', BOOT_MARKER);
    const r = await lodge.cli(['restart', 'alpha']);
    expect(r.code, r.stderr).toBe(0);
    // The guest powered off by itself (the button is pressed again while it still boots), no escalation to quit.
    const stops = await stopReasons(lodge, 'alpha');
    expect(stops.at(-1)).toBe('stopped by user');
    expect((await lodge.cliJson<VmInfo>(['info', 'alpha'])).state).toBe('running');
    const f = await lodge.cli(['stop', '--force', 'alpha']);
    expect(f.code, f.stderr).toBe(0);
    const info = await lodge.cliJson<VmInfo>(['info', 'alpha']);
    expect(info.state).toBe('stopped');
    expect(info.stateReason).toBe('stopped by user (forced)');
  });

  it('deletes all of the VM and nothing else', async () => {
    expect((await lodge.cli(['create', 'bystander', '--memory', '128M'])).code).toBe(0);
    const folder = join(lodge.home, 'vms', 'alpha');
    expect((await lodge.cli(['delete', 'alpha'])).code).toBe(0);
    expect(existsSync(folder)).toBe(false);
    expect(existsSync(join(lodge.home, 'vms', 'bystander', 'disk.qcow2'))).toBe(true);
    expect(existsSync(join(IMAGES_DIR, 'micro', 'image.json'))).toBe(true);
    const list = await lodge.cliJson<VmInfo[]>(['list']);
    expect(list.map((v) => v.name)).toEqual(['bystander']);
    expect(await pidsMentioning(folder)).toEqual([]);
  });
});
