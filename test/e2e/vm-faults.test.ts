import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LodgeError, type VmInfo } from '@lodge/api';
import { pidsMentioning, TestLodge } from './harness.js';

/** A refused action must leave nothing: no folder, no row, no process, no socket. */
async function expectNothingLeft(lodge: TestLodge, name: string): Promise<void> {
  expect(existsSync(join(lodge.home, 'vms', name))).toBe(false);
  expect((await lodge.client.list()).map((v) => v.name)).not.toContain(name);
  expect(await pidsMentioning(join(lodge.home, 'vms', name))).toEqual([]);
}

describe('bad input gets a clear error and leaves nothing behind', () => {
  const lodge = new TestLodge();
  beforeAll(() => lodge.startDaemon());
  afterAll(() => lodge.cleanup());

  it.each([
    [['create', 'Bad_Name'], /name/],
    [['create', '9lives'], /name/],
    [['create', 'x'.repeat(64)], /name/],
    [['create', 'neg', '--memory', '-5M'], /memory/],
    [['create', 'absurd', '--memory', '5000T'], /memory/],
    [['create', 'tiny', '--memory', '1M'], /memory must be between/],
    [['create', 'zero', '--cpus', '0'], /cpus/],
    [['create', 'many', '--cpus', '1000'], /cpus/],
    [['create', 'bigdisk', '--disk', '99999T'], /disk/],
    [['create', 'smalldisk', '--disk', '64M'], /smaller than the image/],
    [['create', 'noimg', '--image', 'no-such-image'], /image/],
  ])('lodge %j is refused', async (args, message) => {
    const r = await lodge.cli(args as string[]);
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    await expectNothingLeft(lodge, (args as string[])[1] ?? '');
  });

  it('the API refuses unknown fields and names them', async () => {
    const err = await lodge.client.create({ name: 'typo', memroy: '1G' } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LodgeError);
    expect((err as LodgeError).code).toBe('invalid_argument');
    expect((err as LodgeError).message).toContain('"memroy"');
    await expectNothingLeft(lodge, 'typo');
  });

  it('a second VM of the same name is refused', async () => {
    expect((await lodge.cli(['create', 'dup', '--memory', '128M'])).code).toBe(0);
    const r = await lodge.cli(['create', 'dup']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('already exists');
    await lodge.client.delete('dup');
  });

  it('QEMU exiting at start is reported with its message; state stays stopped, nothing runs', async () => {
    await lodge.client.create({ name: 'corrupt', memory: '128M' });
    writeFileSync(join(lodge.home, 'vms', 'corrupt', 'disk.qcow2'), 'this is not a qcow2 image');
    const r = await lodge.cli(['start', 'corrupt']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/QEMU exited at start/);
    const info = await lodge.client.get('corrupt');
    expect(info.state).toBe('stopped');
    expect(info.stateReason).toMatch(/start failed/);
    expect(await pidsMentioning(join(lodge.home, 'vms', 'corrupt'))).toEqual([]);
    expect(readdirSync(info.folder).filter((f) => f.endsWith('.sock') || f.endsWith('.pid'))).toEqual([]);
    await lodge.client.delete('corrupt');
  });

  it('two starts at once: one wins, the other gets a clear error', async () => {
    await lodge.client.create({ name: 'race', memory: '128M' });
    const results = await Promise.allSettled([lodge.client.start('race'), lodge.client.start('race')]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0]?.reason as LodgeError).code).toBe('invalid_state');
    expect((lost[0]?.reason as LodgeError).message).toMatch(/cannot start VM "race": it is (starting|running)/);
    const op = await lodge.client.wait((won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof lodge.client.start>>>).value);
    expect(op.status).toBe('succeeded');
    await lodge.client.wait(await lodge.client.stop('race', { force: true }));
    await lodge.client.delete('race');
  });

  it('admission refuses a start beyond the memory overcommit limit, naming the numbers', async () => {
    await lodge.client.create({ name: 'huge', memory: '600G' });
    const r = await lodge.cli(['start', 'huge']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not enough memory to start "huge": it needs 600G/);
    expect(r.stderr).toMatch(/overcommit/);
    expect((await lodge.client.get('huge')).state).toBe('stopped');
    expect(await pidsMentioning(join(lodge.home, 'vms', 'huge'))).toEqual([]);
    await lodge.client.delete('huge');
  });
});

describe('host faults', () => {
  it('a missing QEMU binary: clear error at start, VM stays stopped', async () => {
    const lodge = new TestLodge({ LODGE_QEMU_SYSTEM: '/nonexistent/qemu-system-x86_64' });
    try {
      await lodge.startDaemon();
      const host = await lodge.cliJson<{ qemu: { note?: string } }>(['host']);
      expect(host.qemu.note).toContain('not found');
      expect((await lodge.cli(['create', 'noqemu', '--memory', '128M'])).code).toBe(0);
      const r = await lodge.cli(['start', 'noqemu']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/qemu-system-x86_64 not found/);
      expect(r.stderr).toMatch(/apt-get install qemu-system-x86/);
      expect((await lodge.client.get('noqemu')).state).toBe('stopped');
    } finally {
      await lodge.cleanup();
    }
  });

  it('a disk that cannot be created: clear error, no folder, no row', async () => {
    const lodge = new TestLodge({ LODGE_QEMU_IMG: '/bin/false' });
    try {
      await lodge.startDaemon();
      const r = await lodge.cli(['create', 'nodisk']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/disk/);
      await expectNothingLeft(lodge, 'nodisk');
    } finally {
      await lodge.cleanup();
    }
  });

  it('admission with a low overcommit setting in config.yaml', async () => {
    const lodge = new TestLodge();
    try {
      writeFileSync(join(lodge.ensureHome(), 'config.yaml'), 'overcommit:\n  memory: 0.05\n  cpu: 4\n');
      await lodge.startDaemon();
      const host = await lodge.cliJson<{ capacity: { memory: { limitBytes: number; overcommit: number } } }>(['host']);
      expect(host.capacity.memory.overcommit).toBe(0.05);
      await lodge.client.create({ name: 'a', memory: '2G' });
      const r = await lodge.cli(['start', 'a']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/memory overcommit 0.05/);
      const info: VmInfo = await lodge.client.get('a');
      expect(info.state).toBe('stopped');
    } finally {
      await lodge.cleanup();
    }
  });
});
