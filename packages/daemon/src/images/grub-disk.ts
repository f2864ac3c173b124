import { mkdir, open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LodgeError } from '@lodge/api';
import {
  coreForGap, GRUB_I386_PC_DIR, GRUB_MODULES, grubConfig, grubEarlyConfig, mbrWithBootCode, PARTITION_SCRIPT, PARTITION_START_SECTOR, SECTOR,
} from './grub-boot.js';
import { pipeCommand, runCommand } from './host-command.js';
import { makeExt4, rawToQcow2, type RootDiskOptions } from './root-disk.js';

export interface GrubDiskOptions extends RootDiskOptions {
  /** The root file system's UUID (grub.cfg, the kernel's root= and fstab find it by that). */
  uuid: string;
  /** The kernel command line grub.cfg boots with. */
  cmdline: string;
  /** GRUB's i386-pc files (boot.img, modules); default Debian's grub-pc-bin folder. */
  grubDir?: string;
}

/** Reads boot.img, or says which host package is missing. */
async function readBootImg(grubDir: string): Promise<Buffer> {
  return readFile(join(grubDir, 'boot.img')).catch((err: NodeJS.ErrnoException) => {
    throw new LodgeError('host_unsupported', `GRUB's BIOS files are not on this host (${join(grubDir, 'boot.img')}: ${err.code ?? err.message})`, {
      hint: 'install the Debian package grub-pc-bin (it does not touch the host\'s own boot loader)',
    });
  });
}

/** core.img for the gap: GRUB_MODULES built in, the early config that finds grub.cfg by the file system's UUID. */
async function makeCoreImg(o: { grubDir: string; uuid: string; scratch: string; signal?: AbortSignal }): Promise<Buffer> {
  const [config, core] = [`${o.scratch}.load.cfg`, `${o.scratch}.core.img`];
  try {
    await writeFile(config, grubEarlyConfig(o.uuid));
    await runCommand('grub-mkimage', ['-O', 'i386-pc', '-d', o.grubDir, '-c', config, '-p', '/boot/grub', '-o', core, ...GRUB_MODULES], { signal: o.signal });
    return coreForGap(await readFile(core));
  } finally {
    await rm(config, { force: true });
    await rm(core, { force: true });
  }
}

/**
 * A BIOS-bootable qcow2: an MBR partition table with one partition from 1 MiB, the staged folder as ext4 in it
 * (written at the partition's offset, nothing mounted), GRUB in the MBR and the gap, grub.cfg in /boot/grub.
 * grub-bios-setup wants a block device, so its two writes are done here: both land in sectors 0..2047, which
 * only this function lays out (the partition table is kept, and coreForGap refuses a core.img reaching 2048).
 */
export async function buildGrubDisk(opts: GrubDiskOptions, onConverting?: () => void): Promise<void> {
  const { signal, rawFile } = opts;
  const grubDir = opts.grubDir ?? GRUB_I386_PC_DIR;
  const bootImg = await readBootImg(grubDir);
  await mkdir(join(opts.stageDir, 'boot/grub'), { recursive: true });
  await writeFile(join(opts.stageDir, 'boot/grub/grub.cfg'), grubConfig(opts.cmdline));
  try {
    await writeFile(rawFile, '');
    await truncate(rawFile, opts.sizeMiB * 2 ** 20);
    const offsetBytes = PARTITION_START_SECTOR * SECTOR;
    await makeExt4({ stageDir: opts.stageDir, file: rawFile, sizeMiB: opts.sizeMiB - offsetBytes / 2 ** 20, label: opts.label, uuid: opts.uuid, offsetBytes, signal });
    await pipeCommand('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', rawFile], { input: PARTITION_SCRIPT, outputFile: '/dev/null', signal });
    const core = await makeCoreImg({ grubDir, uuid: opts.uuid, scratch: rawFile, signal });
    const disk = await open(rawFile, 'r+');
    try {
      const mbr = Buffer.alloc(SECTOR);
      await disk.read(mbr, 0, SECTOR, 0);
      await disk.write(mbrWithBootCode(mbr, bootImg), 0, SECTOR, 0);
      await disk.write(core, 0, core.length, SECTOR);
    } finally {
      await disk.close();
    }
    onConverting?.();
    await rawToQcow2(rawFile, opts.output, opts.compress, signal);
  } finally {
    await rm(rawFile, { force: true });
  }
}
