import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiskSpec, ExecStart, ImageEntry, VmSpec } from '@lodge/api';
import { growGuestFileSystem, type GuestExec } from '../../packages/daemon/src/core/guest-disks.js';
import { getImage } from '../../packages/daemon/src/images/image-store.js';
import type { GuestChannel } from '../../packages/daemon/src/ports/guest-channel.js';
import { createQgaChannel } from '../../packages/daemon/src/qga/index.js';
import { QemuDriver } from '../../packages/daemon/src/qemu/qemu-driver.js';
import type { QemuSupervisor } from '../../packages/daemon/src/qemu/qemu-supervisor.js';
import { readHostKhz } from '../../packages/daemon/src/host/tsc-khz.js';
import { niceCgroups } from '../../packages/daemon/src/cgroup/nice-cgroup.js';
import { dataFolder } from '../../packages/daemon/src/sys/data-folder.js';
import { IMAGES_DIR, TestLodge } from './harness.js';

// Extra disks, live grow, I/O limits and discard on real VMs under TCG, through the real driver and runtime
// (the CLI's `lodge disk` sits on top of these); the guest is reached through its QEMU guest agent.

const MiB = 2 ** 20;
const lodge = new TestLodge();
const folder = dataFolder(lodge.home, {});
const driver = new QemuDriver(folder, { system: async () => 'qemu-system-x86_64', img: async () => 'qemu-img' }, () => readHostKhz(), niceCgroups('the disks e2e test needs no cgroup'));
let image: ImageEntry;
const spec: VmSpec = { name: 'dk', image: 'micro', cpus: 1, memory: 256 * MiB, disk: 1024 * MiB, machine: 'q35', cpuWeight: 100, disks: [], users: [], packages: [], files: [], provision: [] };
let runtime: QemuSupervisor;
let guest: GuestChannel;

async function boot(s: VmSpec): Promise<void> {
  runtime = (await driver.launch({ spec: s, image, accelerator: 'tcg' })) as QemuSupervisor;
  guest = createQgaChannel({ socketPath: folder.vmFile(s.name, 'qga') });
  await guest.whenReady(120_000);
}

async function halt(): Promise<void> {
  guest.close();
  await runtime.quit();
  await runtime.exited;
}

/** Runs a shell line in the guest; rejects on a non-zero exit. */
async function sh(line: string): Promise<string> {
  let out = '';
  let err = '';
  const ex = guest.exec({ argv: ['sh', '-c', `PATH=/sbin:/usr/sbin:/bin:/usr/bin; ${line}`], timeoutMs: 120_000 }, {
    output: (ch, chunk, done) => ((ch === 1 ? (out += chunk.toString()) : (err += chunk.toString())), done()),
  });
  const r = await ex.result;
  if (r.exitCode !== 0) throw new Error(`guest: ${line} → exit ${r.exitCode}: ${err}${out}`);
  return out.trim();
}

const guests: GuestExec = { exec: (_vm: string, start: ExecStart, sinks) => ({ execution: guest.exec(start, sinks) }) };
const deviceOf = (serial: string): Promise<string> =>
  sh(`for f in /sys/block/vd*/serial; do read -r s <$f; [ "$s" = ${serial} ] && { d=\${f%/serial}; echo /dev/\${d##*/}; }; done; true`);
/** df -k's size of the file system mounted at `dir`, in bytes. */
const fsSize = async (dir: string): Promise<number> => Number((await sh(`df -k ${dir} | tail -1`)).split(/\s+/)[1]) * 1024;
const nodeNames = async (): Promise<string[]> =>
  (await runtime.qmp().execute<{ 'node-name': string }[]>('query-named-block-nodes')).map((n) => n['node-name']);
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = Date.now();
  await fn();
  return Date.now() - t;
}

beforeAll(async () => {
  lodge.ensureHome();
  image = await getImage(IMAGES_DIR, 'micro');
  await driver.createDisk(spec, image);
  await boot(spec);
});
afterAll(async () => {
  guest?.close();
  await lodge.cleanup();
});

describe('disks on a running q35 VM', () => {
  const data: DiskSpec = { name: 'data', size: 64 * MiB };

  it('grew the root file system to the disk at first boot (the image is smaller)', async () => {
    await sh('n=0; while [ ! -e /run/lodge/root-grown ] && [ $n -lt 600 ]; do n=$((n+1)); usleep 100000; done; [ -e /run/lodge/root-grown ]');
    expect(await fsSize('/')).toBeGreaterThan(900 * MiB);
  });

  it('hot-adds a disk the guest finds by its serial, makes a file system and writes to it', async () => {
    const path = await driver.createExtraDisk('dk', data);
    await runtime.attachDisk(data, path);
    await sh('n=0; until grep -qx data /sys/block/vd*/serial; do n=$((n+1)); [ $n -gt 100 ] && exit 1; usleep 50000; done');
    const dev = await deviceOf('data');
    expect(dev).toMatch(/^\/dev\/vd[b-z]$/);
    await sh(`mkfs.ext4 -q -F ${dev} && mount ${dev} /mnt && echo hello >/mnt/hello && sync`);
    expect(await sh('cat /mnt/hello')).toBe('hello');
    expect(await fsSize('/mnt')).toBeLessThan(64 * MiB);
  });

  it('refuses a duplicate name, a shrink and a busy offline resize, changing nothing', async () => {
    await expect(driver.createExtraDisk('dk', data)).rejects.toMatchObject({ code: 'already_exists' });
    await expect(runtime.attachDisk(data, folder.vmFile('dk', 'disks'))).rejects.toMatchObject({ code: 'already_exists' });
    await expect(runtime.resizeDisk('data', 32 * MiB)).rejects.toMatchObject({ code: 'invalid_argument', message: 'disk "data" is 64M; it cannot shrink to 32M' });
    await expect(driver.resizeDiskFile('dk', 'root', 2048 * MiB)).rejects.toMatchObject({ code: 'invalid_state' });
    expect((await driver.diskFile('dk', 'data')).sizeBytes).toBe(64 * MiB);
    expect((await driver.diskFile('dk', 'root')).sizeBytes).toBe(1024 * MiB);
    expect((await nodeNames()).filter((n) => n.startsWith('blk-'))).toEqual(['blk-data']);
  });

  it('grows the disk live and the guest file system with it', async () => {
    const before = await fsSize('/mnt');
    await runtime.resizeDisk('data', 160 * MiB);
    expect(await growGuestFileSystem(guests, 'dk', 'data', 160 * MiB)).toEqual({ device: await deviceOf('data'), grown: true });
    expect(await fsSize('/mnt')).toBeGreaterThan(before * 2);
    expect(await sh('cat /mnt/hello')).toBe('hello');
  });

  it('an IOPS limit limits: 4k direct writes at 20 IOPS against unlimited', async () => {
    const dd = (): Promise<string> => sh('dd if=/dev/zero of=/mnt/io bs=4k count=60 oflag=direct conv=fsync 2>&1');
    const free = await timed(dd);
    await runtime.throttleDisk('data', { iops: 20 });
    const limited = await timed(dd);
    await runtime.throttleDisk('data', {});
    const again = await timed(dd);
    process.stdout.write(`4k direct writes ×60: unlimited ${free} ms, 20 IOPS ${limited} ms, unlimited again ${again} ms\n`);
    expect(limited).toBeGreaterThan(2500); // 60 writes at 20/s, less the small burst QEMU allows
    expect(limited).toBeGreaterThan(2 * Math.max(free, again));
    const stats = (await runtime.sample()).disks.find((d) => d.name === 'data');
    expect(stats?.writeOps).toBeGreaterThan(180);
  });

  it('discard: a deleted file, once trimmed, leaves the host file', async () => {
    await sh('dd if=/dev/urandom of=/mnt/big bs=1M count=40 2>/dev/null && sync');
    const full = (await driver.diskFile('dk', 'data')).allocatedBytes;
    await sh('rm /mnt/big && sync && fstrim /mnt');
    const trimmed = (await driver.diskFile('dk', 'data')).allocatedBytes;
    process.stdout.write(`host file of data: ${(full / MiB).toFixed(1)} MiB written, ${(trimmed / MiB).toFixed(1)} MiB after rm + fstrim\n`);
    expect(full).toBeGreaterThan(40 * MiB);
    expect(trimmed).toBeLessThan(full - 30 * MiB);
  });

  it('detaches the disk: gone from the guest and from QEMU, file kept', async () => {
    await sh('umount /mnt');
    await runtime.detachDisk('data');
    expect(await deviceOf('data')).toBe('');
    expect((await nodeNames()).some((n) => n.startsWith('blk-'))).toBe(false);
    expect((await runtime.sample()).disks.map((d) => d.name)).toEqual(['root']);
    expect(existsSync((await driver.diskFile('dk', 'data')).path)).toBe(true);
    await expect(runtime.detachDisk('data')).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('disks across a stop', () => {
  it('a root disk grown while stopped is seen grown at the next boot; extra disks attach at boot with their limits', async () => {
    await halt();
    await expect(driver.resizeDiskFile('dk', 'root', 512 * MiB)).rejects.toMatchObject({ code: 'invalid_argument' });
    await driver.resizeDiskFile('dk', 'root', 1536 * MiB);
    const disks = [{ name: 'data', size: 160 * MiB, iops: 200 }];
    await boot({ ...spec, disk: 1536 * MiB, disks });
    await sh('n=0; while [ ! -e /run/lodge/root-grown ] && [ $n -lt 600 ]; do n=$((n+1)); usleep 100000; done; [ -e /run/lodge/root-grown ]');
    expect(await fsSize('/')).toBeGreaterThan(1400 * MiB);
    const dev = await deviceOf('data');
    await sh(`mount ${dev} /mnt && cat /mnt/hello && umount /mnt`);
    const block = (await runtime.qmp().execute<{ qdev: string; inserted: { iops: number } }[]>('query-block')).find((b) => b.qdev.includes('disk-data'));
    expect(block?.inserted.iops).toBe(200);
    // The root disk grows live too; its file system is the one mounted at /.
    await runtime.resizeDisk('root', 2048 * MiB);
    expect(await growGuestFileSystem(guests, 'dk', 'root', 2048 * MiB)).toMatchObject({ device: '/dev/vda', grown: true });
    expect(await fsSize('/')).toBeGreaterThan(1900 * MiB);
    // A disk attached at boot can be unplugged live too (it sits on a root port).
    await runtime.detachDisk('data');
    expect(await deviceOf('data')).toBe('');
    await halt();
  });
});

describe('pc', () => {
  it('hot-plugs on pci.0 and unplugs through ACPI', async () => {
    const pc: VmSpec = { ...spec, name: 'pc', machine: 'pc' };
    await driver.createDisk(pc, image);
    await boot(pc);
    const disk = { name: 'extra', size: 32 * MiB, bps: 8 * MiB };
    await runtime.attachDisk(disk, await driver.createExtraDisk('pc', disk));
    await sh('n=0; until grep -qx extra /sys/block/vd*/serial; do n=$((n+1)); [ $n -gt 100 ] && exit 1; usleep 50000; done');
    await runtime.detachDisk('extra');
    expect(await deviceOf('extra')).toBe('');
    expect((await nodeNames()).some((n) => n.startsWith('blk-'))).toBe(false);
    await halt();
  });
});

describe('microvm', () => {
  it('refuses hot-plug clearly and adds nothing to QEMU', async () => {
    const micro: VmSpec = { ...spec, name: 'mv', machine: 'microvm', disk: 1024 * MiB };
    await driver.createDisk(micro, image);
    runtime = (await driver.launch({ spec: micro, image, accelerator: 'tcg' })) as QemuSupervisor;
    const path = await driver.createExtraDisk('mv', { name: 'late', size: 16 * MiB });
    await expect(runtime.attachDisk({ name: 'late', size: 16 * MiB }, path)).rejects.toMatchObject({
      code: 'host_unsupported', message: expect.stringMatching(/microvm VM cannot hot-plug disks/),
    });
    expect((await nodeNames()).some((n) => n.startsWith('blk-'))).toBe(false);
    await runtime.quit();
    await runtime.exited;
  });
});
