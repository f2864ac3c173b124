import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LodgeError, type ImageEntry, type ImageImportRequest, type ImageInfo, type Progress } from '@lodge/api';
import { checkDiskCheck, checkDiskInfo, checkQcow2Header, checkRawDisk, HEAD_BYTES, kernelRelease, type ImportFormat } from './disk-file-checks.js';
import { runCommand } from './host-command.js';
import { tempPrefix, removeStaleTemps } from './image-folder.js';
import { readManifest, syncDir, writeManifest } from './image-manifest.js';

/** File names inside an imported image's folder. */
export const IMPORTED_FILES = { disk: 'disk.qcow2', kernel: 'vmlinuz', initrd: 'initrd.img' } as const;

export interface ImportOptions {
  imagesDir: string;
  request: ImageImportRequest;
  signal?: AbortSignal;
  onProgress: (p: Progress) => void;
}

/** A regular file's size and first bytes; a clear error for a missing file or a folder. */
async function readHead(what: string, path: string, bytes: number): Promise<{ size: number; head: Buffer }> {
  const s = await stat(path).catch(() => undefined);
  if (!s?.isFile()) {
    throw new LodgeError('invalid_argument', `${what} ${path} ${s ? 'is not a regular file' : 'does not exist'}`, { hint: `check the path of the ${what}`, details: { path } });
  }
  const fh = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await fh.read({ buffer: Buffer.alloc(bytes), position: 0 });
    return { size: s.size, head: buffer.subarray(0, bytesRead) };
  } finally {
    await fh.close();
  }
}

/** The file as a QEMU block node with no backing file: whatever the header says, nothing else is opened. */
export function pinnedSource(file: string, format: ImportFormat): string {
  return `json:${JSON.stringify({ driver: format, ...(format === 'qcow2' ? { backing: null } : {}), file: { driver: 'file', filename: file } })}`;
}

/** qemu-img check exits 2 (corrupt) or 3 (leaks) with its report on stdout; only other failures are errors. */
function qemuImgCheck(source: string, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('qemu-img', ['check', '--output=json', source], { signal, maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) => {
      if (err && ![2, 3].includes(Number(err.code))) reject(new LodgeError('invalid_argument', `qemu-img cannot check the image: ${stderr.trim().split('\n').slice(-2).join(' | ') || err.message}`, { hint: 'the file is damaged or not a disk image' }));
      else resolve(stdout);
    });
  });
}

/** Checks the user's file: header read by us first, then qemu-img's format, check and size; returns its format. */
export async function checkImportFile(file: string, signal?: AbortSignal): Promise<ImportFormat> {
  const { size, head } = await readHead('file', file, HEAD_BYTES);
  checkQcow2Header(file, head);
  const info = JSON.parse(await runCommand('qemu-img', ['info', '--output=json', file], { signal }).catch((err: unknown) => {
    throw new LodgeError('invalid_argument', `cannot import ${file}: qemu-img cannot read it (${(err as Error).message})`, { hint: 'is it a disk image?', cause: err });
  })) as Parameters<typeof checkDiskInfo>[1];
  const format = checkDiskInfo(file, info);
  if (format === 'raw') checkRawDisk(file, head, size);
  else checkDiskCheck(file, JSON.parse(await qemuImgCheck(pinnedSource(file, format), signal)), size);
  return format;
}

/** Copies a kernel (bzImage or ELF vmlinux) or initrd in, returning the kernel's release when it has one. */
async function copyBootFile(what: 'kernel' | 'initrd', from: string, to: string): Promise<string | undefined> {
  const { head } = await readHead(what, from, 0x400);
  const release = what === 'kernel' ? kernelRelease(head) : undefined;
  if (what === 'kernel' && release === undefined) {
    throw new LodgeError('invalid_argument', `kernel ${from} is not a Linux kernel (no bzImage header, not an ELF file)`, { hint: 'give the vmlinuz of the guest, e.g. from its /boot' });
  }
  await copyFile(from, to);
  return release || undefined;
}

/** Imports into imagesDir/<name>: built in a temp folder, manifest last, renamed into place only if the name is free. */
export async function importImage(o: ImportOptions): Promise<ImageEntry> {
  const { request: r, signal } = o;
  const folder = join(o.imagesDir, r.name);
  await removeStaleTemps(o.imagesDir, r.name);
  o.onProgress({ step: `checking ${r.file}`, percent: 5 });
  const format = await checkImportFile(r.file, signal);
  const tmp = await mkdtemp(join(o.imagesDir, tempPrefix(r.name)));
  try {
    o.onProgress({ step: `copying the ${format} disk`, percent: 20 });
    await runCommand('qemu-img', ['convert', '-q', '-O', 'qcow2', pinnedSource(r.file, format), join(tmp, IMPORTED_FILES.disk)], { signal });
    const boot: Partial<ImageInfo> = {};
    if (r.kernel !== undefined) {
      o.onProgress({ step: 'copying the kernel', percent: 85 });
      boot.kernel = IMPORTED_FILES.kernel;
      boot.kernelVersion = await copyBootFile('kernel', r.kernel, join(tmp, IMPORTED_FILES.kernel));
      if (r.initrd !== undefined) await copyBootFile('initrd', r.initrd, join(tmp, (boot.initrd = IMPORTED_FILES.initrd)));
    }
    let sizeBytes = 0;
    for (const f of [IMPORTED_FILES.disk, boot.kernel, boot.initrd]) if (f) sizeBytes += (await stat(join(tmp, f))).size;
    const info: ImageInfo = { name: r.name, disk: IMPORTED_FILES.disk, ...boot, kernelCmdline: r.cmdline ?? '', sizeBytes, builtAt: new Date().toISOString(), importedFrom: r.file };
    await writeManifest(tmp, info);
    await rename(tmp, folder).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      throw new LodgeError('already_exists', `image "${r.name}" already exists`, { hint: `pick another name, or remove it first: lodge image rm ${r.name}` });
    });
    await syncDir(o.imagesDir);
    o.onProgress({ step: 'imported', percent: 100 });
    return { ...((await readManifest(folder)) ?? info), folder };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
