import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiskInfo, VmInfo } from '@lodge/api';
import { TestLodge } from './harness.js';

// `lodge disk` and `lodge set --disk` end to end: the daemon hot-plugs, grows and limits disks, and grows the
// guest's file system through the Lodge agent. (disks.test.ts covers the runtime underneath in more depth.)

const MiB = 2 ** 20;
const lodge = new TestLodge();

async function guest(vm: string, line: string): Promise<string> {
  const r = await lodge.cli(['exec', vm, '--', 'sh', '-c', `PATH=/sbin:/usr/sbin:/bin:/usr/bin; ${line}`]);
  if (r.code !== 0) throw new Error(`guest: ${line} → exit ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout.trim();
}
const fsSize = async (vm: string, dir: string): Promise<number> => Number((await guest(vm, `df -k ${dir} | tail -1`)).split(/\s+/)[1]) * 1024;
const deviceOf = (vm: string, serial: string): Promise<string> =>
  guest(vm, `for f in /sys/block/vd*/serial; do read -r s <$f; [ "$s" = ${serial} ] && { d=\${f%/serial}; echo /dev/\${d##*/}; }; done; true`);
const disks = (vm: string): Promise<DiskInfo[]> => lodge.cliJson<DiskInfo[]>(['disk', 'list', vm]);

beforeAll(async () => {
  await lodge.startDaemon();
  for (const args of [['create', 'dc', '--memory', '256M', '--disk', '1G'], ['start', 'dc']]) {
    const r = await lodge.cli(args);
    if (r.code !== 0) throw new Error(`lodge ${args.join(' ')}: ${r.stderr}`);
  }
});
afterAll(() => lodge.cleanup());

describe('lodge disk on a running VM', () => {
  it('adds a disk live; the guest formats, mounts and writes it', async () => {
    const add = await lodge.cli(['disk', 'add', 'dc', 'data', '--size', '64M', '--iops', '400']);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/attached live/);
    await guest('dc', 'n=0; until grep -qx data /sys/block/vd*/serial; do n=$((n+1)); [ $n -gt 100 ] && exit 1; usleep 50000; done');
    const dev = await deviceOf('dc', 'data');
    await guest('dc', `mkfs.ext4 -q -F ${dev} && mount ${dev} /mnt && echo hello >/mnt/hello && sync`);
    const data = (await disks('dc')).find((d) => d.name === 'data');
    expect(data).toMatchObject({ sizeBytes: 64 * MiB, iops: 400, attached: true });
    expect(data?.allocatedBytes).toBeLessThan(16 * MiB);
  });

  it('refuses a duplicate and a shrink, changing nothing', async () => {
    expect((await lodge.cli(['disk', 'add', 'dc', 'data', '--size', '64M'])).stderr).toMatch(/already has a disk named "data"/);
    expect((await lodge.cli(['disk', 'set', 'dc', 'data', '--size', '32M'])).stderr).toMatch(/cannot shrink/);
    expect((await lodge.cli(['set', 'dc', '--disk', '512M'])).stderr).toMatch(/cannot shrink/);
    expect((await disks('dc')).map((d) => [d.name, d.sizeBytes])).toEqual([['root', 1024 * MiB], ['data', 64 * MiB]]);
  });

  it('grows the disk and its mounted file system live, and changes its limits', async () => {
    const before = await fsSize('dc', '/mnt');
    const r = await lodge.cliJson<{ disk: DiskInfo; notes: string[] }>(['disk', 'set', 'dc', 'data', '--size', '160M', '--iops', 'none', '--bps', '10M']);
    expect(r.notes).toEqual([]);
    expect(r.disk).toMatchObject({ sizeBytes: 160 * MiB, bps: 10 * MiB });
    expect(r.disk.iops).toBeUndefined();
    expect(await fsSize('dc', '/mnt')).toBeGreaterThan(before * 2);
    expect(await guest('dc', 'cat /mnt/hello')).toBe('hello');
  });

  it('grows the root disk and / live with lodge set --disk', async () => {
    const r = await lodge.cliJson<{ vm: VmInfo; result: { live: string[]; notes: string[] } }>(['set', 'dc', '--disk', '2G']);
    expect(r.result.live).toContain('disk');
    expect(r.result.notes).toEqual([]);
    expect(await fsSize('dc', '/')).toBeGreaterThan(1900 * MiB);
  });

  it('removes the disk: unplugged from the guest, file deleted', async () => {
    await guest('dc', 'umount /mnt');
    const rm = await lodge.cli(['disk', 'rm', 'dc', 'data']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(await deviceOf('dc', 'data')).toBe('');
    expect((await disks('dc')).map((d) => d.name)).toEqual(['root']);
    expect(readdirSync(join(lodge.home, 'vms/dc/disks'))).toEqual([]);
  });
});

describe('lodge disk on microvm', () => {
  it('refuses hot-plug with a clear error and leaves no file and no spec change', async () => {
    for (const args of [['create', 'mv', '--machine', 'microvm', '--memory', '192M'], ['start', 'mv', '--no-wait']]) {
      const r = await lodge.cli(args);
      if (r.code !== 0) throw new Error(`lodge ${args.join(' ')}: ${r.stderr}`);
    }
    const add = await lodge.cli(['disk', 'add', 'mv', 'late', '--size', '16M']);
    expect(add.code).not.toBe(0);
    expect(add.stderr).toMatch(/microvm VM cannot hot-plug disks/);
    expect(add.stderr).toMatch(/attached at the next start/);
    expect(existsSync(join(lodge.home, 'vms/mv/disks/late.qcow2'))).toBe(false);
    expect((await lodge.client.get('mv')).spec.disks).toEqual([]);
  });
});
