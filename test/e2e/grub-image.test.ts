import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageEntry } from '@lodge/api';
import { DEBIAN_IMAGE_NAME } from '../../packages/daemon/src/images/debian-image.js';
import { buildTestImage, TestLodge } from './harness.js';

// The debian-12 recipe with boot: grub, built once per image cache beside debian-12 (its .debs shared): the VM
// boots through SeaBIOS and GRUB from its partitioned disk, no kernel given to QEMU (bench/grub-boot compares its boot time with direct boot).
const GRUB_IMAGE = 'debian-12-grub';
const GiB = 2 ** 30;
const PARTITION_START = 2048;

describe('debian-12 with GRUB', () => {
  const lodge = new TestLodge();
  let image: ImageEntry;
  let direct: ImageEntry;
  const exec = (vm: string, script: string) => lodge.cli(['exec', vm, '--', 'sh', '-c', script], { timeoutMs: 180_000 });
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

  async function start(vm: string): Promise<number> {
    const t0 = performance.now();
    const r = await lodge.cli(['start', vm, '--ready-timeout', '300'], { timeoutMs: 320_000 });
    expect(r.code, `${r.stderr}\n${lodge.consoleLog(vm).slice(-3000)}`).toBe(0);
    return performance.now() - t0;
  }
  async function stop(vm: string): Promise<void> {
    const r = await lodge.cli(['stop', vm, '--timeout', '60'], { timeoutMs: 90_000 });
    expect(r.code, r.stderr).toBe(0);
  }
  /** The root's device, its disk's and partition's sizes, the file system's size and what grow-root recorded. */
  async function rootFacts(vm: string): Promise<{ source: string; disk: number; part: number; fs: number; grown: number }> {
    // The agent is up before grow-root has run: starting its unit joins the boot's job and returns once it is done.
    const r = await exec(vm, 'systemctl start lodge-grow-root.service; findmnt -no SOURCE /; cat /sys/block/vda/size /sys/block/vda/vda1/size; df -B1 --output=size / | tail -1; cat /var/lib/lodge/root-sectors');
    expect(r.code, `${r.stderr}\n${(await exec(vm, 'journalctl -b -u lodge-grow-root --no-pager')).stdout}`).toBe(0);
    const [source = '', ...n] = r.stdout.trim().split('\n');
    const [disk, part, fs, grown] = n.map(Number) as [number, number, number, number];
    return { source, disk, part, fs, grown };
  }

  beforeAll(async () => {
    for (const [name, boot] of [[DEBIAN_IMAGE_NAME, 'direct'], [GRUB_IMAGE, 'grub']] as const) {
      const t0 = performance.now();
      const built = await buildTestImage(name);
      console.log(`${name} ${built.cached ? 'cache hit' : 'built'} in ${seconds(performance.now() - t0)}, ${(built.image.sizeBytes / 2 ** 20).toFixed(0)} MiB`);
      if (boot === 'grub') image = built.image;
      else direct = built.image;
    }
    await lodge.startDaemon();
  }, 1_500_000);
  afterAll(() => lodge.cleanup(), 60_000);

  it('has a manifest without kernel or initrd, and the same packages and kernel as the direct-boot image', () => {
    expect(image.kernel).toBeUndefined();
    expect(image.initrd).toBeUndefined();
    expect(image.kernelVersion).toBe(direct.kernelVersion);
    expect(image.bootMarker).toBe(direct.bootMarker);
    expect(image.firstBoot).toBe(direct.firstBoot);
  });

  it('boots from its disk through GRUB to agent-ready, with the kernel command line from grub.cfg', async () => {
    const created = await lodge.cli(['create', 'grub', '--image', GRUB_IMAGE, '--disk', '4G', '--memory', '512M', '--cpus', '1']);
    expect(created.code, created.stderr).toBe(0);
    console.log(`${GRUB_IMAGE} first boot, lodge start to agent ready: ${seconds(await start('grub'))}`);
    const argv = JSON.parse(readFileSync(join(lodge.home, 'vms', 'grub', 'qemu.cmdline'), 'utf8')) as string[];
    expect(argv).not.toContain('-kernel');
    expect(argv).not.toContain('-append');
    const cmdline = await exec('grub', 'cat /proc/cmdline');
    expect(cmdline.code, cmdline.stderr).toBe(0);
    // GRUB's linux command puts the file it loaded first; root is the partition's file system by UUID.
    expect(cmdline.stdout).toMatch(/^BOOT_IMAGE=\/vmlinuz console=ttyS0 root=UUID=[0-9a-f-]{36} rw quiet panic=-1 cryptomgr\.notests\n$/);
    const running = await exec('grub', 'systemctl is-system-running --wait; systemctl --failed --no-legend --plain');
    expect(running.stdout.split('\n')[0], `failed units:\n${running.stdout}`).toBe('running');
    expect(lodge.consoleLog('grub')).toContain(image.bootMarker);
  }, 400_000);

  it('grew its partition and root file system to the 4G disk at first boot', async () => {
    const f = await rootFacts('grub');
    expect(f.source).toBe('/dev/vda1');
    expect(f.disk).toBe((4 * GiB) / 512);
    expect(f.grown).toBe(f.disk);
    expect(f.part).toBe(f.disk - PARTITION_START);
    expect(f.fs).toBeGreaterThan(4 * GiB * 0.9);
  }, 120_000);

  it('grows partition and root again after lodge set --disk 6G, and boots again', async () => {
    await stop('grub');
    const set = await lodge.cli(['set', 'grub', '--disk', '6G']);
    expect(set.code, set.stderr).toBe(0);
    console.log(`${GRUB_IMAGE} boot after set --disk, lodge start to agent ready: ${seconds(await start('grub'))}`);
    const f = await rootFacts('grub');
    expect(f.disk).toBe((6 * GiB) / 512);
    expect(f.part).toBe(f.disk - PARTITION_START);
    expect(f.grown).toBe(f.disk);
    expect(f.fs).toBeGreaterThan(6 * GiB * 0.9);
    const fsck = await exec('grub', 'dmesg | grep -ci "ext4.*error" || true');
    expect(fsck.stdout.trim()).toBe('0');
  }, 400_000);
});
