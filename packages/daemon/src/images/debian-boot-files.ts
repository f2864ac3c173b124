import { copyFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LodgeError } from '@lodge/api';
import { extractVmlinux } from './kernel-image.js';
import { parseKernelConfig } from './kernel-modules.js';

/** File names inside a Debian image folder. */
export const DEBIAN_FILES = { vmlinux: 'vmlinux', bzImage: 'vmlinuz', initrd: 'initrd.img', disk: 'disk.qcow2' } as const;

/** The one kernel release installed in a rootfs (from its /boot/vmlinuz-<release>); internal error otherwise. */
export function kernelRelease(bootNames: string[]): string {
  const releases = bootNames.filter((n) => n.startsWith('vmlinuz-')).map((n) => n.slice('vmlinuz-'.length));
  if (releases.length !== 1 || !bootNames.includes(`initrd.img-${releases[0]}`)) {
    throw new LodgeError('internal', `expected one kernel and its initrd in the rootfs's /boot, found: ${bootNames.join(', ') || 'nothing'}`, {
      details: { boot: bootNames },
    });
  }
  return releases[0] as string;
}

/**
 * Copies the rootfs's kernel and initramfs-tools initrd into the image folder for direct boot: the kernel as
 * an uncompressed PVH vmlinux when it supports that (no decompression at each boot), else the bzImage.
 */
export async function extractBootFiles(rootfs: string, out: string, signal?: AbortSignal): Promise<{ kernelFile: string; release: string }> {
  const boot = join(rootfs, 'boot');
  const release = kernelRelease(await readdir(boot));
  const config = parseKernelConfig(await readFile(join(boot, `config-${release}`), 'utf8'));
  const bzImage = join(boot, `vmlinuz-${release}`);
  const pvh = config.get('PVH') === 'y' && (await extractVmlinux(bzImage, join(out, DEBIAN_FILES.vmlinux), signal));
  if (!pvh) await copyFile(bzImage, join(out, DEBIAN_FILES.bzImage));
  await copyFile(join(boot, `initrd.img-${release}`), join(out, DEBIAN_FILES.initrd));
  return { kernelFile: pvh ? DEBIAN_FILES.vmlinux : DEBIAN_FILES.bzImage, release };
}
