import { LodgeError } from '@lodge/api';

/** Formats an imported disk may have: anything else (vmdk, vhdx, …) can name other files or needs converting first. */
export const IMPORT_FORMATS = ['qcow2', 'raw'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** Bytes to read from the start of a file for the checks below (btrfs keeps its magic at 64 KiB + 64). */
export const HEAD_BYTES = 0x10048;

const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
const QCOW2_EXTERNAL_DATA_FILE = 1n << 2n; // incompatible_features bit 2

const refuse = (file: string, why: string, hint: string): LodgeError =>
  new LodgeError('invalid_argument', `cannot import ${file}: ${why}`, { hint, details: { file } });

/**
 * Reads the qcow2 header ourselves before qemu-img opens the file: a backing file or an external data file names
 * another file on the host, which an untrusted image must never make us read. Refused rather than dropped: the
 * image is then only a delta, and dropping the reference would import a silently incomplete disk.
 */
export function checkQcow2Header(file: string, head: Buffer): void {
  if (head.length < 20 || head.readUInt32BE(0) !== QCOW2_MAGIC) return;
  const flatten = `flatten it where you trust its base, then import the result: qemu-img convert -O qcow2 ${file} flat.qcow2`;
  if (head.readBigUInt64BE(8) !== 0n) throw refuse(file, 'it is a qcow2 overlay with a backing file (never followed for an imported image)', flatten);
  const version = head.readUInt32BE(4);
  if (version >= 3 && head.length >= 80 && (head.readBigUInt64BE(72) & QCOW2_EXTERNAL_DATA_FILE) !== 0n) {
    throw refuse(file, 'its qcow2 header names an external data file (never followed for an imported image)', flatten);
  }
}

/** What `qemu-img info --output=json` says that matters here. */
export interface DiskInfoJson {
  format?: string;
  'virtual-size'?: number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'format-specific'?: { data?: { 'data-file'?: string } };
}

/** The format qemu-img detected, refused unless it is qcow2 or raw without a backing or data file. */
export function checkDiskInfo(file: string, info: DiskInfoJson): ImportFormat {
  const format = info.format ?? 'unknown';
  if (!(IMPORT_FORMATS as readonly string[]).includes(format)) {
    throw refuse(file, `its format is ${format}; accepted formats: ${IMPORT_FORMATS.join(', ')}`, `convert it first: qemu-img convert -O qcow2 ${file} disk.qcow2`);
  }
  const backing = info['backing-filename'] ?? info['full-backing-filename'];
  if (backing !== undefined) throw refuse(file, `it has a backing file (${backing}), which is never followed for an imported image`, `flatten it first: qemu-img convert -O qcow2 ${file} flat.qcow2`);
  const dataFile = info['format-specific']?.data?.['data-file'];
  if (dataFile !== undefined) throw refuse(file, `it names an external data file (${dataFile})`, `flatten it first: qemu-img convert -O qcow2 ${file} flat.qcow2`);
  return format as ImportFormat;
}

/** What `qemu-img check --output=json` reports. */
export interface DiskCheckJson {
  corruptions?: number;
  'check-errors'?: number;
  'image-end-offset'?: number;
}

/** A qcow2 must check clean (leaks are harmless) and its metadata must not point past the end of the file. */
export function checkDiskCheck(file: string, check: DiskCheckJson, fileSize: number): void {
  const hint = 'the file is damaged or incomplete: copy or download it again';
  const problems = (check.corruptions ?? 0) + (check['check-errors'] ?? 0);
  if (problems > 0) throw refuse(file, `qemu-img check found ${check.corruptions ?? 0} corruption(s) and ${check['check-errors'] ?? 0} error(s)`, hint);
  const end = check['image-end-offset'];
  if (end !== undefined && end > fileSize) throw refuse(file, `it is truncated: its data ends at byte ${end} but the file has ${fileSize}`, hint);
}

/** What a raw file holds at its start, if it looks like a disk; undefined for anything else (text, an archive, …). */
export function rawDiskKind(head: Buffer): string | undefined {
  const at = (offset: number, text: string): boolean => head.length >= offset + text.length && head.toString('latin1', offset, offset + text.length) === text;
  if (at(512, 'EFI PART')) return 'GPT partition table';
  if (head.length >= 512 && head.readUInt16LE(510) === 0xaa55) return 'boot sector';
  if (head.length >= 1082 && head.readUInt16LE(1080) === 0xef53) return 'ext2/3/4 file system';
  if (at(0, 'XFSB')) return 'xfs file system';
  if (at(0x10040, '_BHRfS_M')) return 'btrfs file system';
  return undefined;
}

/** A raw import must be whole sectors and start like a disk: a partition table, a boot sector or a file system. */
export function checkRawDisk(file: string, head: Buffer, size: number): void {
  const what = 'a raw disk starts with a partition table, a boot sector or a file system (ext2/3/4, xfs, btrfs)';
  if (size === 0 || size % 512 !== 0) throw refuse(file, `it is not a disk image: ${size} bytes is not a whole number of 512-byte sectors`, what);
  if (rawDiskKind(head) === undefined) throw refuse(file, 'it is not a disk image: qemu-img sees raw data with no partition table, boot sector or file system', what);
}

/** The release of an x86 bzImage (from its kernel_version string), or "" for an ELF vmlinux; undefined: not a kernel. */
export function kernelRelease(head: Buffer): string | undefined {
  if (head.length >= 4 && head.readUInt32BE(0) === 0x7f454c46) return '';
  if (head.length < 0x210 || head.toString('latin1', 0x202, 0x206) !== 'HdrS') return undefined;
  const at = head.readUInt16LE(0x20e) + 0x200;
  if (head.readUInt16LE(0x20e) === 0 || at >= head.length) return '';
  const end = head.indexOf(0, at);
  return head.toString('latin1', at, end < 0 ? Math.min(head.length, at + 256) : end).split(' ')[0] ?? '';
}
