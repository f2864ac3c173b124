import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDebianDisk } from './debian-disk.js';
import { DEBIAN_KERNEL_CMDLINE } from './debian-root.js';

// The grub layout of a Debian image from a tiny fake rootfs (real sfdisk, mke2fs, grub-mkimage; no VM).
const REL = '6.1.0-9-cloud-amd64';

describe('buildDebianDisk with boot grub', () => {
  let dir: string;
  let fields: Awaited<ReturnType<typeof buildDebianDisk>>;
  const steps: string[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lodge-debian-disk-'));
    await mkdir(join(dir, 'root/boot'), { recursive: true });
    await mkdir(join(dir, 'root/etc'));
    await mkdir(join(dir, 'out'));
    await writeFile(join(dir, 'root/boot', `vmlinuz-${REL}`), 'kernel');
    await writeFile(join(dir, 'root/boot', `initrd.img-${REL}`), 'initrd');
    await writeFile(join(dir, 'root/etc/fstab'), '/dev/vda / ext4 rw 0 1\n');
    fields = await buildDebianDisk({ rootfs: join(dir, 'root'), out: join(dir, 'out'), rawFile: join(dir, 'disk.raw'), sizeMiB: 32, boot: 'grub', progress: (s) => steps.push(s) });
  }, 60_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('puts no kernel in the image folder: the VM boots from its disk', async () => {
    expect(fields).toEqual({ disk: 'disk.qcow2', kernelCmdline: '', kernelVersion: REL });
    expect(await readdir(join(dir, 'out'))).toEqual(['disk.qcow2']);
    expect(steps).toContain('building partitioned root disk with GRUB');
  });

  it('names the root by its UUID in fstab and in the command line GRUB boots, which is direct boot\'s otherwise', async () => {
    const fstab = await readFile(join(dir, 'root/etc/fstab'), 'utf8');
    const uuid = /^UUID=([0-9a-f-]{36}) \/ ext4 /.exec(fstab)?.[1];
    expect(uuid).toBeDefined();
    const cfg = await readFile(join(dir, 'root/boot/grub/grub.cfg'), 'utf8');
    expect(cfg).toContain(`linux /vmlinuz ${DEBIAN_KERNEL_CMDLINE.replace('root=/dev/vda', `root=UUID=${uuid}`)}\n`);
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', join(dir, 'out/disk.qcow2')], { encoding: 'utf8' })) as { 'virtual-size': number; format: string };
    expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': 32 * 2 ** 20 });
  });
});
