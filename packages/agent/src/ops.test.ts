import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GuestInfo } from '@lodge/api/guest';
import { run, startHarness, type Harness } from './test-harness.js';
import { lookupUser, supplementaryGroups } from './user-db.js';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

const commands: { command: string; args: string[] }[] = [];
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    run: async (command, args) => {
      commands.push({ command, args });
      return { code: 0, stderr: '' };
    },
  });
});
afterAll(async () => {
  await h?.close();
});

describe('info', () => {
  it('describes the guest', async () => {
    const r = await run(h.host, { op: 'info' });
    const info = r.result as GuestInfo;
    expect(info.os.id).toBeTruthy();
    expect(info.kernel.machine).toMatch(/x86_64|aarch64/);
    expect(info.memory.totalBytes).toBeGreaterThan(info.memory.availableBytes);
    expect(info.disks.find((d) => d.mount === '/')).toMatchObject({ totalBytes: expect.any(Number) });
    expect(info.addresses.every((a) => a.iface !== 'lo')).toBe(true);
    expect(info.agent).toMatchObject({ pid: process.pid, node: process.version });
    expect(Math.abs(info.timeMs - Date.now())).toBeLessThan(5000);
  });
});

describe('time.set', () => {
  it('reports the offset and steps the clock with date when it is off', async () => {
    commands.length = 0;
    const epochMs = Date.now() - 5000;
    const r = await run(h.host, { op: 'time.set', epochMs });
    const offset = (r.result as { offsetMs: number }).offsetMs;
    expect(offset).toBeGreaterThanOrEqual(5000);
    expect(offset).toBeLessThan(5500);
    expect(commands).toHaveLength(1);
    expect(commands[0]?.command).toBe('date');
    const seconds = Number(commands[0]?.args[2]?.slice(1));
    expect(Math.abs(seconds * 1000 - (Date.now() - 5000))).toBeLessThan(1500);
  });

  it('leaves a clock within 50 ms alone', async () => {
    commands.length = 0;
    const r = await run(h.host, { op: 'time.set', epochMs: Date.now() });
    expect(Math.abs((r.result as { offsetMs: number }).offsetMs)).toBeLessThan(50);
    expect(commands).toHaveLength(0);
    expect((await run(h.host, { op: 'time.set', epochMs: 'soon' } as never)).error?.code).toBe('invalid_argument');
  });
});

describe('shutdown', () => {
  it('answers first, then powers off through init', async () => {
    commands.length = 0;
    const r = await run(h.host, { op: 'shutdown', action: 'poweroff' });
    expect(r.result).toEqual({});
    expect(commands).toHaveLength(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(commands).toEqual([expect.objectContaining({ command: expect.stringMatching(/^(poweroff|systemctl)$/) })]);
    expect((await run(h.host, { op: 'shutdown', action: 'halt' } as never)).error?.code).toBe('invalid_argument');
  });
});

describe('user database', () => {
  it('resolves names, numbers and user:group from passwd and group files', () => {
    const dir = mkdtempSync(`${tmpdir()}/lodge-userdb-`);
    try {
      writeFileSync(`${dir}/passwd`, 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n');
      writeFileSync(`${dir}/group`, 'root:x:0:\nstaff:x:50:alice\n');
      const paths = { passwd: `${dir}/passwd`, group: `${dir}/group` };
      expect(lookupUser('alice', paths)).toEqual({ name: 'alice', uid: 1000, gid: 1000, home: '/home/alice', shell: '/bin/sh' });
      expect(lookupUser('0', paths).name).toBe('root');
      expect(lookupUser('alice:staff', paths).gid).toBe(50);
      expect(lookupUser('4242', paths)).toMatchObject({ uid: 4242, gid: 4242, home: '/' });
      expect(() => lookupUser('bob', paths)).toThrow(/bob: not found/);
      expect(() => lookupUser('alice:nogroup', paths)).toThrow(/group nogroup/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sees a changed or replaced file at the next lookup (the parse is cached per version)', () => {
    const dir = mkdtempSync(`${tmpdir()}/lodge-userdb-`);
    try {
      const paths = { passwd: `${dir}/passwd`, group: `${dir}/group` };
      writeFileSync(paths.passwd, 'alice:x:1000:1000::/home/alice:/bin/sh\n');
      writeFileSync(paths.group, 'staff:x:50:\n');
      expect(lookupUser('alice', paths).home).toBe('/home/alice');
      expect(supplementaryGroups(lookupUser('alice', paths), paths)).toEqual([1000]);
      // Same size, rewritten in place: mtime/ctime tell the versions apart.
      writeFileSync(paths.passwd, 'alice:x:1000:1000::/home/alicf:/bin/sh\n');
      writeFileSync(paths.group, 'staff:x:50:alice\n');
      expect(lookupUser('alice', paths).home).toBe('/home/alicf');
      expect(supplementaryGroups(lookupUser('alice', paths), paths)).toEqual([1000, 50]);
      // Replaced by rename, as useradd does.
      writeFileSync(`${dir}/passwd+`, 'alice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n');
      renameSync(`${dir}/passwd+`, paths.passwd);
      expect(lookupUser('bob', paths).uid).toBe(1001);
      rmSync(paths.passwd);
      expect(() => lookupUser('bob', paths)).toThrow(/bob: not found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
