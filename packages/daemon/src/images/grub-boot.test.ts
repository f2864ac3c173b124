import { describe, expect, it } from 'vitest';
import { coreForGap, GRUB_MODULES, grubConfig, grubEarlyConfig, mbrWithBootCode, PARTITION_SCRIPT, PARTITION_START_SECTOR, SECTOR } from './grub-boot.js';

const UUID = '0b6f3d1e-8c1a-4a53-9a0e-6f6b1f3c2d10';

function fakeBootImg(): Buffer {
  const b = Buffer.alloc(SECTOR, 0xcc); // "code" everywhere
  b.writeUInt16LE(0x05eb, 0x66); // boot.S's `jmp 3f` floppy-check skip
  b.writeUInt16LE(0xaa55, 0x1fe);
  return b;
}

describe('grub texts', () => {
  it('boots the /vmlinuz and /initrd.img links with the given command line, no menu wait, on the serial console', () => {
    const cfg = grubConfig(`console=ttyS0 root=UUID=${UUID} rw quiet`);
    expect(cfg).toMatch(/^set timeout=0$/m);
    expect(cfg).toMatch(/^set timeout_style=hidden$/m);
    expect(cfg).toContain(`\tlinux /vmlinuz console=ttyS0 root=UUID=${UUID} rw quiet\n\tinitrd /initrd.img\n`);
    expect(cfg).toMatch(/^terminal_output serial$/m);
    expect(cfg).not.toMatch(/^terminal_input/m);
  });
  it('finds grub.cfg by the file system UUID, and refuses anything else in that line', () => {
    expect(grubEarlyConfig(UUID)).toBe(`search.fs_uuid ${UUID} root\nset prefix=($root)/boot/grub\n`);
    expect(() => grubEarlyConfig('x; reboot')).toThrow(/not a file system UUID/);
  });
  it('lays out one bootable Linux partition from 1 MiB, and builds in what the config uses', () => {
    expect(PARTITION_SCRIPT).toContain(`start=${PARTITION_START_SECTOR}, type=83, bootable`);
    expect(PARTITION_SCRIPT).not.toMatch(/size=/);
    for (const m of ['biosdisk', 'part_msdos', 'ext2', 'search_fs_uuid', 'normal', 'linux', 'serial']) expect(GRUB_MODULES).toContain(m);
  });
});

describe('mbrWithBootCode', () => {
  it('takes boot.img code but keeps the disk signature, partition table and BPB area; core.img at LBA 1, no floppy check', () => {
    const mbr = Buffer.alloc(SECTOR);
    mbr.fill(0x11, 0x03, 0x5a);
    mbr.fill(0x22, 0x1b8, 0x1fe);
    mbr.writeUInt16LE(0xaa55, 0x1fe);
    const out = mbrWithBootCode(mbr, fakeBootImg());
    expect(out.subarray(0, 3)).toEqual(Buffer.alloc(3, 0xcc));
    expect(out.subarray(0x03, 0x5a)).toEqual(Buffer.alloc(0x57, 0x11));
    expect(out.readBigUInt64LE(0x5c)).toBe(1n);
    expect(out.readUInt16LE(0x66)).toBe(0x9090);
    expect(out.subarray(0x1b8, 0x1fe)).toEqual(Buffer.alloc(0x46, 0x22));
    expect(out.readUInt16LE(0x1fe)).toBe(0xaa55);
    expect(out[0x100]).toBe(0xcc);
  });
  it('refuses a boot.img that is not a signed 512-byte sector', () => {
    expect(() => mbrWithBootCode(Buffer.alloc(SECTOR), Buffer.alloc(SECTOR))).toThrow(/boot sector/);
    expect(() => mbrWithBootCode(Buffer.alloc(SECTOR), Buffer.alloc(1024))).toThrow(/boot.img 1024/);
  });
});

describe('coreForGap', () => {
  it('points the first sector at the rest from sector 2', () => {
    const core = coreForGap(Buffer.alloc(SECTOR * 3));
    expect(core.readBigUInt64LE(SECTOR - 12)).toBe(2n);
  });
  it('refuses a core.img that would reach into the partition', () => {
    expect(() => coreForGap(Buffer.alloc((PARTITION_START_SECTOR - 1) * SECTOR + 1))).toThrow(/gap before the partition holds 1048064/);
    expect(coreForGap(Buffer.alloc((PARTITION_START_SECTOR - 1) * SECTOR)).length).toBe(1048064);
  });
});
