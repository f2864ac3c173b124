import { randomUUID } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageInfo, ImageRecipe } from '@lodge/api';
import { DEBIAN_FILES, extractBootFiles, kernelRelease } from './debian-boot-files.js';
import { DEBIAN_KERNEL_CMDLINE, debianCmdline, debianFstab } from './debian-root.js';
import { buildGrubDisk } from './grub-disk.js';
import type { BuildProgress } from './recipe-start.js';
import { buildRootDisk } from './root-disk.js';

export interface DebianDiskOptions {
  /** The finished rootfs (grub: its fstab and /boot/grub are written here). */
  rootfs: string;
  /** The image folder being filled. */
  out: string;
  rawFile: string;
  sizeMiB: number;
  boot: ImageRecipe['boot'];
  progress: BuildProgress;
  signal?: AbortSignal;
}

/** The manifest's boot fields: a kernel for direct boot, none when the disk boots itself. */
export type DebianBootFields = Pick<ImageInfo, 'kernel' | 'initrd' | 'disk' | 'kernelCmdline' | 'kernelVersion'> & { disk: string };

/**
 * The image's disk.qcow2 from the rootfs: direct, the ext4 as the whole disk beside the extracted kernel and initrd;
 * grub, a partitioned disk that boots the kernel in its own /boot through GRUB (the root found by a per-build UUID).
 */
export async function buildDebianDisk(o: DebianDiskOptions): Promise<DebianBootFields> {
  const disk = { stageDir: o.rootfs, rawFile: o.rawFile, output: join(o.out, DEBIAN_FILES.disk), sizeMiB: o.sizeMiB, label: 'lodge-root', compress: true, signal: o.signal };
  const converting = () => o.progress('converting to compressed qcow2', 85);
  if (o.boot === 'grub') {
    const kernelVersion = kernelRelease(await readdir(join(o.rootfs, 'boot')));
    const uuid = randomUUID();
    await writeFile(join(o.rootfs, 'etc/fstab'), debianFstab(`UUID=${uuid}`));
    o.progress('building partitioned root disk with GRUB', 75);
    await buildGrubDisk({ ...disk, uuid, cmdline: debianCmdline(`UUID=${uuid}`) }, converting);
    return { disk: DEBIAN_FILES.disk, kernelCmdline: '', kernelVersion };
  }
  o.progress('extracting kernel and initrd', 70);
  const boot = await extractBootFiles(o.rootfs, o.out, o.signal);
  o.progress('building root disk', 75);
  await buildRootDisk(disk, converting);
  return { kernel: boot.kernelFile, initrd: DEBIAN_FILES.initrd, disk: DEBIAN_FILES.disk, kernelCmdline: DEBIAN_KERNEL_CMDLINE, kernelVersion: boot.release };
}

/** The texts the grub layout adds to a recipe hash (placeholder UUID). */
export function debianGrubTexts(): string[] {
  return ['boot=grub', debianCmdline('UUID=UUID'), debianFstab('UUID=UUID')];
}
