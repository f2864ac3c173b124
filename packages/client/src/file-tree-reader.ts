import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { LEND_MIN_BYTES, LodgeError, type LentFile } from '@lodge/api/lite';
import type { FileEntry } from '@lodge/api/guest';
import { hostFsCall } from './host-fs-error.js';

/** A file's bytes follow its entry in chunks of this size (the last one shorter). */
export const CHUNK_BYTES = 256 * 1024;

/**
 * One step of a file tree on the wire: an entry, or bytes of the file whose entry came last. A file entry with
 * `lent` has no bytes after it: the file is open here for lodged to read, until the consumer asks for the next item.
 */
export type TreeItem = { entry: FileEntry; lent?: LentFile } | { data: Buffer };

export interface TreeReadOptions {
  /** Sockets, FIFOs and devices have no bytes to copy: they are left out and reported here. */
  onSkip?(path: string, what: string): void;
  /** Files of LEND_MIN_BYTES or more are lent (lodged on this host reads them) rather than read. */
  lend?: boolean;
}

export interface TreeTotals {
  entries: number;
  files: number;
  bytes: number;
}

interface Found {
  abs: string;
  entry: FileEntry;
}

const kindOfSpecial = (st: Stats): string =>
  st.isSocket() ? 'socket' : st.isFIFO() ? 'FIFO' : st.isCharacterDevice() || st.isBlockDevice() ? 'device' : 'special file';

function entryOf(path: string, st: Stats): Omit<FileEntry, 'kind' | 'size'> {
  return { path, mode: st.mode & 0o7777, mtimeMs: Math.round(st.mtimeMs) };
}

/**
 * Depth-first, parents before children, names sorted; lstat only, so a symlink is an entry and never followed.
 * Synchronous calls, as the writer's: a thread-pool round trip per call cost the CLI more CPU than the copy itself
 * (500 small files: ~7 calls a file).
 */
function* walk(abs: string, rel: string, opts: TreeReadOptions): Generator<Found> {
  const st = hostFsCall(() => lstatSync(abs), 'read', abs);
  if (st.isDirectory()) {
    yield { abs, entry: { ...entryOf(rel, st), kind: 'dir', size: 0 } };
    const names = hostFsCall(() => readdirSync(abs), 'list', abs);
    for (const name of names.sort()) yield* walk(join(abs, name), `${rel}/${name}`, opts);
  } else if (st.isFile()) {
    yield { abs, entry: { ...entryOf(rel, st), kind: 'file', size: st.size } };
  } else if (st.isSymbolicLink()) {
    const target = hostFsCall(() => readlinkSync(abs), 'read the symlink', abs);
    yield { abs, entry: { ...entryOf(rel, st), kind: 'symlink', size: 0, target } };
  } else {
    opts.onSkip?.(abs, kindOfSpecial(st));
  }
}

/** The absolute path and the name its entries start with (cp -r: the last component of what was named). */
function topOf(root: string): { abs: string; name: string } {
  const abs = resolve(root);
  const name = basename(abs);
  if (name === '') throw new LodgeError('invalid_argument', `cannot copy "${root}" as a whole`, { hint: 'name a folder below /' });
  return { abs, name };
}

/** Counts what readFileTree will send, for a progress bar with a total. */
export async function measureFileTree(root: string, opts: TreeReadOptions = {}): Promise<TreeTotals> {
  const { abs, name } = topOf(root);
  const totals: TreeTotals = { entries: 0, files: 0, bytes: 0 };
  for (const { entry } of walk(abs, name, opts)) {
    totals.entries += 1;
    if (entry.kind === 'file') (totals.files += 1), (totals.bytes += entry.size);
  }
  return totals;
}

/** Reads exactly the size the entry announced, so the receiver's byte count holds even if the file changes meanwhile. */
function* fileBytes(abs: string, entry: FileEntry, lend: boolean): Generator<TreeItem> {
  // O_NOFOLLOW: a symlink swapped in since lstat is refused; O_NONBLOCK: a FIFO swapped in cannot hang the open.
  const fd = hostFsCall(() => openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK), 'read', abs);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new LodgeError('invalid_argument', `cannot read ${abs}: it changed into a ${kindOfSpecial(st)} while being copied`);
    const exact: FileEntry = { ...entry, ...entryOf(entry.path, st), size: st.size };
    if (lend && exact.size >= LEND_MIN_BYTES) {
      const ids = fstatSync(fd, { bigint: true });
      yield { entry: exact, lent: { pid: process.pid, fd, dev: String(ids.dev), ino: String(ids.ino) } };
      return;
    }
    yield { entry: exact };
    for (let left = exact.size; left > 0; ) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, left));
      const bytesRead = hostFsCall(() => readSync(fd, buf, 0, buf.length, null), 'read', abs);
      if (bytesRead === 0) throw new LodgeError('invalid_argument', `cannot read ${abs}: it shrank while being copied`);
      left -= bytesRead;
      yield { data: buf.subarray(0, bytesRead) };
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * A local file or folder as entries (paths relative, first component its name, parents first) with each file's
 * bytes right after its entry. Only what is under `root` is read: symlinks are sent as symlinks.
 */
export async function* readFileTree(root: string, opts: TreeReadOptions = {}): AsyncGenerator<TreeItem> {
  const { abs, name } = topOf(root);
  for (const found of walk(abs, name, opts)) {
    if (found.entry.kind === 'file') yield* fileBytes(found.abs, found.entry, opts.lend === true);
    else yield { entry: found.entry };
  }
}
