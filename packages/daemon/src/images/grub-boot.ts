import { LodgeError } from '@lodge/api';

// GRUB for BIOS (i386-pc) on a disk we lay out ourselves: MBR boot code in sector 0, core.img in the gap
// before the one partition, grub.cfg in the partition's /boot/grub. Texts here are part of the recipe hash.

export const SECTOR = 512;
/** The partition starts at 1 MiB, as every partitioner does; sectors 1..2047 hold core.img. */
export const PARTITION_START_SECTOR = 2048;
/** Where GRUB's host files are (Debian's grub-pc-bin). */
export const GRUB_I386_PC_DIR = '/usr/lib/grub/i386-pc';
/**
 * Built into core.img, so it needs no module files on the disk: the BIOS disk, the partition table and ext4 to
 * reach grub.cfg, search to find it by UUID, normal to read it, linux to boot, serial for the console.
 */
export const GRUB_MODULES = ['biosdisk', 'part_msdos', 'ext2', 'search_fs_uuid', 'normal', 'linux', 'serial', 'terminal'];

/** sfdisk's input: an MBR table with one bootable Linux partition from 1 MiB to the end of the disk. */
export const PARTITION_SCRIPT = `label: dos\nunit: sectors\n\nstart=${PARTITION_START_SECTOR}, type=83, bootable\n`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** core.img's own first commands: find the root file system by UUID (whatever BIOS drive it is), read grub.cfg there. */
export function grubEarlyConfig(uuid: string): string {
  if (!UUID.test(uuid)) throw new LodgeError('internal', `not a file system UUID: "${uuid}"`);
  return `search.fs_uuid ${uuid} root\nset prefix=($root)/boot/grub\n`;
}

/**
 * The boot menu: no wait, one entry booting the kernel and initrd that /vmlinuz and /initrd.img point at
 * (Debian's kernel packages keep those links on the newest kernel, so an upgrade in the guest needs no GRUB step).
 */
export function grubConfig(cmdline: string): string {
  return `# Written by Lodge's image builder. GRUB writes on the serial console; the menu is skipped.
# No terminal_input serial: polling the serial port for keys costs ~2 s of boot under TCG.
serial --unit=0 --speed=115200
terminal_output serial
set timeout_style=hidden
set timeout=0
menuentry 'Linux' {
\tlinux /vmlinuz ${cmdline}
\tinitrd /initrd.img
}
`;
}

/** Offsets in GRUB 2's boot.img (grub-core/boot/i386/pc/boot.S) and the first sector of core.img (diskboot.S). */
const BOOT = { bpbStart: 0x03, bpbEnd: 0x5a, kernelSector: 0x5c, driveCheck: 0x66, tableStart: 0x1b8, tableEnd: 0x1fe } as const;
const DISKBOOT_BLOCKLIST_START = SECTOR - 12;

/**
 * Sector 0 as grub-bios-setup writes it for core.img embedded at sector 1: boot.img's code, our own BPB area,
 * disk signature and partition table kept, the floppy check off (a hard disk), core.img's LBA set to 1.
 */
export function mbrWithBootCode(mbr: Buffer, bootImg: Buffer): Buffer {
  if (mbr.length !== SECTOR || bootImg.length !== SECTOR || bootImg.readUInt16LE(0x1fe) !== 0xaa55) {
    throw new LodgeError('internal', `boot sector sizes: disk ${mbr.length}, boot.img ${bootImg.length} (both must be 512 bytes, boot.img signed)`);
  }
  const out = Buffer.from(bootImg);
  mbr.copy(out, BOOT.bpbStart, BOOT.bpbStart, BOOT.bpbEnd);
  mbr.copy(out, BOOT.tableStart, BOOT.tableStart, BOOT.tableEnd);
  out.writeUInt16LE(0x9090, BOOT.driveCheck);
  out.writeBigUInt64LE(1n, BOOT.kernelSector);
  return out;
}

/**
 * core.img ready for sector 1: its first sector (diskboot) loads the rest from sector 2 on, a length grub-mkimage
 * already wrote. Refused when it would not fit before the partition.
 */
export function coreForGap(core: Buffer): Buffer {
  const gap = (PARTITION_START_SECTOR - 1) * SECTOR;
  if (core.length > gap || core.length < SECTOR) {
    throw new LodgeError('internal', `GRUB's core.img is ${core.length} bytes; the gap before the partition holds ${gap}`, {
      hint: 'fewer GRUB modules, or a partition that starts later',
    });
  }
  const out = Buffer.from(core);
  out.writeBigUInt64LE(2n, DISKBOOT_BLOCKLIST_START);
  return out;
}

/** What of the above shapes a built disk, for the recipe hash (placeholder UUID; the real one is made per build). */
export const GRUB_RECIPE_TEXTS: readonly string[] = [
  PARTITION_SCRIPT, GRUB_MODULES.join(' '), grubEarlyConfig('00000000-0000-0000-0000-000000000000'), grubConfig('CMDLINE'), 'mbr-at-1,core-blocklist-at-2',
];
