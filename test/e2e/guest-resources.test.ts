import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageEntry, VmSpec } from '@lodge/api';
import type { VmRuntime } from '../../packages/daemon/src/ports/vm-driver.js';
import { niceCgroups } from '../../packages/daemon/src/cgroup/nice-cgroup.js';
import { QemuDriver } from '../../packages/daemon/src/qemu/qemu-driver.js';
import { residentBytes } from '../../packages/daemon/src/qemu/process-usage.js';
import { queryBalloon } from '../../packages/daemon/src/qmp/index.js';
import type { QemuSupervisor } from '../../packages/daemon/src/qemu/qemu-supervisor.js';
import { dataFolder } from '../../packages/daemon/src/sys/data-folder.js';
import { GuestConsole } from './guest-console.js';
import { BOOT_MARKER, IMAGES_DIR, sleep, TestLodge } from './harness.js';

// The balloon and vCPU hot-add on a real 1 GiB guest under TCG, through the real driver and supervisor.

const MiB = 2 ** 20;
const lodge = new TestLodge();
const spec: VmSpec = { name: 'mem', image: 'micro', cpus: 1, maxCpus: 2, memory: 1024 * MiB, disk: 4096 * MiB, machine: 'q35', cpuWeight: 100, disks: [], users: [], packages: [], files: [], provision: [] };
let driver: QemuDriver;
let runtime: VmRuntime;
let guest: GuestConsole;

/** Polls until `check` holds; returns the last value seen. */
async function until<T>(what: string, read: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (check(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${timeoutMs} ms`);
    await sleep(500);
  }
}
const rss = (): Promise<number> => residentBytes(runtime.pid);
const actual = (): Promise<number> => queryBalloon((runtime as QemuSupervisor).qmp());

beforeAll(async () => {
  const folder = dataFolder(lodge.ensureHome(), { LODGE_IMAGES_DIR: IMAGES_DIR });
  driver = new QemuDriver(folder, { system: async () => 'qemu-system-x86_64', img: async () => 'qemu-img' }, async () => undefined, niceCgroups('the guest resources e2e test needs no cgroup'));
  const imageFolder = join(IMAGES_DIR, 'micro');
  const image = { ...JSON.parse(readFileSync(join(imageFolder, 'image.json'), 'utf8')), folder: imageFolder } as ImageEntry;
  await driver.createDisk(spec, image);
  runtime = await driver.launch({ spec, image, accelerator: 'tcg' });
  await lodge.waitForConsole(spec.name, BOOT_MARKER, 120_000);
  guest = new GuestConsole(await driver.openConsole(spec.name));
  await guest.run('true');
});

afterAll(async () => {
  guest?.close();
  await runtime?.kill().catch(() => undefined);
  await lodge.cleanup();
});

describe('guest memory through the balloon', () => {
  it('reports the boot bounds, the balloon and the guest\'s own memory figures', async () => {
    expect(await runtime.bounds()).toEqual({ memoryBytes: 1024 * MiB, maxCpus: 2 });
    const s = await until('balloon stats', () => runtime.sample(), (v) => v.guestMem !== undefined, 30_000);
    expect(s).toMatchObject({ vcpus: 1, balloonBytes: 1024 * MiB });
    expect(s.guestMem?.totalBytes).toBe(await guest.meminfo('MemTotal'));
  });

  it('shrinks the guest live to 384M: MemTotal drops and QEMU\'s resident memory falls', async () => {
    // 600 MiB of the disk in the guest's page cache: memory the guest touched, which it must drop for the balloon.
    await guest.run('dd if=/dev/vda of=/dev/null bs=1M count=600 2>/dev/null');
    const cached = await rss();
    const totalBefore = await guest.meminfo('MemTotal');
    await runtime.setMemory(384 * MiB);
    await until('balloon actual', actual, (v) => v === 384 * MiB);
    const total = await guest.meminfo('MemTotal');
    expect(totalBefore - total).toBeGreaterThan(600 * MiB);
    const shrunk = await until('QEMU RSS after the balloon inflated', rss, (v) => cached - v > 200 * MiB);
    console.log(`balloon 1G → 384M: guest MemTotal ${(totalBefore / MiB) | 0} → ${(total / MiB) | 0} MiB, QEMU RSS ${(cached / MiB) | 0} → ${(shrunk / MiB) | 0} MiB`);
    expect((await runtime.sample()).balloonBytes).toBe(384 * MiB);
  });

  it('refuses below the floor or above boot memory with nothing changed', async () => {
    await expect(runtime.setMemory(64 * MiB)).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/^memory 64M is below the (floor of 128M|\S+ the guest uses now)$/) });
    await expect(runtime.setMemory(2048 * MiB)).rejects.toMatchObject({ code: 'invalid_argument', message: 'memory 2G is more than the 1G this VM was started with' });
    expect(await actual()).toBe(384 * MiB);
  });

  it('grows it back to 1G', async () => {
    await runtime.setMemory(1024 * MiB);
    await until('balloon actual', actual, (v) => v === 1024 * MiB);
    expect(await guest.meminfo('MemTotal')).toBeGreaterThan(900 * MiB);
  });

  it('refuses a target below what the guest uses, with nothing changed', async () => {
    const before = await rss();
    await guest.run('dd if=/dev/zero of=/dev/shm/fill bs=1M count=256 2>/dev/null');
    const filled = await rss();
    await until('stats seeing the fill', () => runtime.sample(), (v) => (v.guestMem ? v.guestMem.totalBytes - v.guestMem.availableBytes > 256 * MiB : false));
    await expect(runtime.setMemory(256 * MiB)).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/^memory 256M is below the \S+ the guest uses now$/) });
    expect(await actual()).toBe(1024 * MiB);
    await guest.run('rm /dev/shm/fill');
    await sleep(10_000);
    // A figure, not an assertion: free page reporting gave back 110-260 of 256 MiB by hand, but not reliably here.
    console.log(`free page reporting: QEMU RSS ${(before / MiB) | 0} → ${(filled / MiB) | 0} (256 MiB filled) → ${((await rss()) / MiB) | 0} MiB 10 s after rm`);
  });
});

describe('vCPU hot-add', () => {
  it('adds a vCPU live and the guest brings it online', async () => {
    expect(await guest.run('nproc')).toBe('1');
    await runtime.setVcpus(2);
    await until('guest nproc', () => guest.run('nproc'), (v) => v === '2', 30_000);
    expect((await runtime.sample()).vcpus).toBe(2);
  });

  it('refuses removing a vCPU or going past maxcpus, with nothing changed', async () => {
    await expect(runtime.setVcpus(1)).rejects.toMatchObject({ code: 'invalid_state' });
    await expect(runtime.setVcpus(3)).rejects.toMatchObject({ code: 'invalid_argument', message: 'this VM was started with room for 2 vCPUs; 3 needs a restart' });
    expect((await runtime.sample()).vcpus).toBe(2);
    expect(await guest.run('nproc')).toBe('2');
  });
});
