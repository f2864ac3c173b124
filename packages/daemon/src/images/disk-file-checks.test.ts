import { describe, expect, it } from 'vitest';
import { checkDiskCheck, checkDiskInfo, checkQcow2Header, checkRawDisk, kernelRelease, rawDiskKind } from './disk-file-checks.js';

/** A qcow2 v3 header: magic, version, backing file offset, incompatible features. */
function qcow2Head(opts: { backingOffset?: bigint; incompatible?: bigint; version?: number } = {}): Buffer {
  const b = Buffer.alloc(104);
  b.writeUInt32BE(0x514649fb, 0);
  b.writeUInt32BE(opts.version ?? 3, 4);
  b.writeBigUInt64BE(opts.backingOffset ?? 0n, 8);
  b.writeBigUInt64BE(opts.incompatible ?? 0n, 72);
  return b;
}

describe('checkQcow2Header', () => {
  it('passes a self-contained qcow2 and anything that is not qcow2', () => {
    expect(() => checkQcow2Header('/x', qcow2Head())).not.toThrow();
    expect(() => checkQcow2Header('/x', Buffer.from('hello'))).not.toThrow();
  });
  it('refuses a backing file before qemu-img ever opens the image', () => {
    expect(() => checkQcow2Header('/x.qcow2', qcow2Head({ backingOffset: 0x200n }))).toThrow(/cannot import \/x.qcow2: .*backing file/);
  });
  it('refuses an external data file (incompatible feature bit 2), only for v3', () => {
    expect(() => checkQcow2Header('/x', qcow2Head({ incompatible: 4n }))).toThrow(/external data file/);
    expect(() => checkQcow2Header('/x', qcow2Head({ incompatible: 1n }))).not.toThrow(); // dirty bit
    expect(() => checkQcow2Header('/x', qcow2Head({ incompatible: 4n, version: 2 }))).not.toThrow();
  });
});

describe('checkDiskInfo', () => {
  it('returns qcow2 or raw', () => {
    expect(checkDiskInfo('/x', { format: 'qcow2', 'virtual-size': 1 })).toBe('qcow2');
    expect(checkDiskInfo('/x', { format: 'raw' })).toBe('raw');
  });
  it('refuses other formats, naming the accepted ones', () => {
    expect(() => checkDiskInfo('/x', { format: 'vmdk' })).toThrow('its format is vmdk; accepted formats: qcow2, raw');
  });
  it('refuses a backing file or a data file, naming it', () => {
    expect(() => checkDiskInfo('/x', { format: 'qcow2', 'backing-filename': '/etc/hostname' })).toThrow(/backing file \(\/etc\/hostname\)/);
    expect(() => checkDiskInfo('/x', { format: 'qcow2', 'format-specific': { data: { 'data-file': '/etc/shadow' } } })).toThrow(/data file \(\/etc\/shadow\)/);
  });
});

describe('checkDiskCheck', () => {
  it('passes a clean image and one with leaked clusters only', () => {
    expect(() => checkDiskCheck('/x', { 'image-end-offset': 100 }, 100)).not.toThrow();
    expect(() => checkDiskCheck('/x', { 'image-end-offset': 100, corruptions: 0 }, 200)).not.toThrow();
  });
  it('refuses corruptions and errors', () => {
    expect(() => checkDiskCheck('/x', { corruptions: 37 }, 100)).toThrow('qemu-img check found 37 corruption(s) and 0 error(s)');
  });
  it('refuses metadata that ends past the end of the file (truncated)', () => {
    expect(() => checkDiskCheck('/x', { 'image-end-offset': 3473408 }, 1048576)).toThrow('it is truncated: its data ends at byte 3473408 but the file has 1048576');
  });
});

describe('raw disks', () => {
  const sector = (): Buffer => Buffer.alloc(0x10048);
  it('recognises a boot sector, GPT, ext, xfs and btrfs', () => {
    const mbr = sector();
    mbr.writeUInt16LE(0xaa55, 510);
    expect(rawDiskKind(mbr)).toBe('boot sector');
    const gpt = sector();
    gpt.write('EFI PART', 512, 'latin1');
    expect(rawDiskKind(gpt)).toBe('GPT partition table');
    const ext = sector();
    ext.writeUInt16LE(0xef53, 1080);
    expect(rawDiskKind(ext)).toBe('ext2/3/4 file system');
    const xfs = sector();
    xfs.write('XFSB', 0, 'latin1');
    expect(rawDiskKind(xfs)).toBe('xfs file system');
    const btrfs = sector();
    btrfs.write('_BHRfS_M', 0x10040, 'latin1');
    expect(rawDiskKind(btrfs)).toBe('btrfs file system');
    expect(rawDiskKind(sector())).toBeUndefined();
  });
  it('refuses text, partial sectors and empty files as not a disk image', () => {
    const text = Buffer.from('just some notes\n'.repeat(64));
    expect(() => checkRawDisk('/n.txt', text, text.length)).toThrow('it is not a disk image: qemu-img sees raw data with no partition table');
    expect(() => checkRawDisk('/n.txt', text, 1000)).toThrow('1000 bytes is not a whole number of 512-byte sectors');
    expect(() => checkRawDisk('/e', Buffer.alloc(0), 0)).toThrow(/not a disk image/);
  });
});

describe('kernelRelease', () => {
  it('reads the release from a bzImage header, says "" for ELF, undefined for anything else', () => {
    const bz = Buffer.alloc(0x400);
    bz.write('HdrS', 0x202, 'latin1');
    bz.writeUInt16LE(0x100, 0x20e); // kernel_version at 0x100 + 0x200
    bz.write('6.1.0-28-cloud-amd64 (debian-kernel@lists.debian.org) #1\0', 0x300, 'latin1');
    expect(kernelRelease(bz)).toBe('6.1.0-28-cloud-amd64');
    expect(kernelRelease(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2]))).toBe('');
    expect(kernelRelease(Buffer.alloc(0x400))).toBeUndefined();
  });
});
