import { closeSync, constants, fchmodSync, fstatSync, futimesSync, lstatSync, lutimesSync, mkdirSync, openSync, statSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { LentFile } from '@lodge/api/lite';
import type { FileEntry } from '@lodge/api/guest';
import { checkEntry, pathParts, refuse } from './entry-check.js';
import type { TreeTotals } from './file-tree-reader.js';
import { hostFsCall, hostFsError } from './host-fs-error.js';

/** Set-user/group-ID bits are dropped from files: a guest must not hand the host a privileged program. */
const FILE_MODE_MASK = 0o1777;
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

interface OpenFile {
  fd: number;
  entry: FileEntry;
  local: string;
  left: number;
  /** Device and inode, for lending the file to lodged. */
  ids: { dev: string; ino: string };
  lent: boolean;
}

const errno = (err: unknown): string => (err as NodeJS.ErrnoException | null)?.code ?? '';
const seconds = (ms: number): number => ms / 1000;

/**
 * Writes a file tree received as entries under a local destination, like `cp -r`: into an existing folder, else the
 * top entry takes the destination's name. Nothing is written outside: paths are checked, every parent is lstat'ed
 * (no symlinks), files are opened O_NOFOLLOW. Folder modes and times are applied at finish(), after their contents.
 * File system calls are synchronous, as the writes always were: a thread-pool round trip per call (~8 a file) cost
 * more CPU than a small file's copy.
 */
export class FileTreeWriter implements TreeTotals {
  entries = 0;
  files = 0;
  bytes = 0;
  private top: { name: string; base: string; as: string } | undefined;
  private file: OpenFile | undefined;
  private readonly madeDirs: { local: string; entry: FileEntry }[] = [];

  constructor(private readonly dest: string) {}

  async entry(value: FileEntry): Promise<void> {
    this.endFile();
    const entry = checkEntry(value);
    const local = this.place(entry);
    this.entries += 1;
    if (entry.kind === 'dir') this.makeDir(local, entry);
    else if (entry.kind === 'symlink') this.makeSymlink(local, entry);
    else this.openFile(local, entry);
  }

  /** Written at once on this thread (page-cache writes are short): a thread-pool round trip and a paused socket per
   * chunk were a third of a download's CPU here. The chunk that ends the file closes it. */
  data(chunk: Buffer): void {
    const file = this.file;
    if (!file) throw refuse(null, `${chunk.length} bytes arrived without a file entry before them`);
    if (file.lent) throw refuse(file.entry.path, 'bytes arrived for a file lent to lodged');
    if (chunk.length > file.left) throw refuse(file.entry.path, `more bytes arrived than its size ${file.entry.size}`);
    try {
      for (let at = 0; at < chunk.length; ) at += writeSync(file.fd, chunk, at, chunk.length - at);
    } catch (err) {
      throw hostFsError(err, 'write', file.local);
    }
    file.left -= chunk.length;
    this.bytes += chunk.length;
    if (file.left === 0) this.closeFile(file);
  }

  /** The file the last entry opened, lent to lodged on this host to write its bytes; undefined when none is open. */
  lend(): LentFile | undefined {
    const file = this.file;
    if (!file || file.lent || file.left < file.entry.size) return undefined;
    file.lent = true;
    return { pid: process.pid, fd: file.fd, ...file.ids };
  }

  /** lodged wrote all of the lent file: it is complete (closed, its mode and time set). */
  async written(path: string): Promise<void> {
    const file = this.file;
    if (!file?.lent || file.entry.path !== path) throw refuse(path, 'lodged wrote a file that was not lent to it');
    this.bytes += file.left;
    file.left = 0;
    this.closeFile(file);
  }

  /** Checks the last file is complete, then sets folder modes and times, deepest first; returns the counts. */
  async finish(): Promise<TreeTotals> {
    this.endFile();
    if (!this.top) throw refuse(null, 'the copy held no entries');
    for (const { local, entry } of this.madeDirs.reverse()) {
      const fd = hostFsCall(() => openSync(local, DIR_FLAGS), 'open the folder', local);
      try {
        fchmodSync(fd, entry.mode);
        futimesSync(fd, seconds(entry.mtimeMs), seconds(entry.mtimeMs));
      } finally {
        closeSync(fd);
      }
    }
    this.madeDirs.length = 0;
    return { entries: this.entries, files: this.files, bytes: this.bytes };
  }

  /** Closes what is open after a failure; what was written stays (as with cp). */
  async abort(): Promise<void> {
    this.closeQuietly();
  }

  /** After a failure: the first error is the one to report. */
  private closeQuietly(): void {
    const file = this.file;
    if (file) quietly(() => closeSync(file.fd));
    this.file = undefined;
  }

  /** The local path of an entry, after the cp -r mapping and the no-symlink check of every parent. */
  private place(entry: FileEntry): string {
    const parts = pathParts(entry.path);
    if (!this.top) {
      if (parts.length !== 1) throw refuse(entry.path, 'the first entry must be the top of the tree');
      const dest = resolve(this.dest);
      const into = quietly(() => statSync(dest))?.isDirectory() ?? false;
      this.top = { name: parts[0] ?? '', base: into ? dest : dirname(dest), as: into ? (parts[0] ?? '') : basename(dest) };
    } else if (parts[0] !== this.top.name || parts.length === 1) {
      throw refuse(entry.path, `it is not inside "${this.top.name}", the top of the tree`);
    }
    const local = [this.top.as, ...parts.slice(1)];
    for (let depth = 1; depth < local.length; depth++) {
      const parent = join(this.top.base, ...local.slice(0, depth));
      const st = quietly(() => lstatSync(parent));
      if (!st) throw refuse(entry.path, `its folder ${parent} does not exist (entries must come after their folder)`);
      if (st.isSymbolicLink()) throw refuse(entry.path, `its folder ${parent} is a symlink`);
      if (!st.isDirectory()) throw refuse(entry.path, `${parent} is not a folder`);
    }
    return join(this.top.base, ...local);
  }

  private makeDir(local: string, entry: FileEntry): void {
    // 0700 until finish(): a folder that will be read-only can still be filled.
    try {
      mkdirSync(local, { mode: 0o700 });
      this.madeDirs.push({ local, entry });
      return;
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw hostFsError(err, 'create the folder', local);
    }
    const st = lstatSync(local);
    if (st.isSymbolicLink()) throw refuse(entry.path, `${local} is a symlink`);
    if (!st.isDirectory()) throw hostFsError({ code: 'EEXIST' }, 'create the folder', local);
  }

  private makeSymlink(local: string, entry: FileEntry): void {
    const target = entry.target ?? '';
    try {
      symlinkSync(target, local);
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw hostFsError(err, 'create the symlink', local);
      // Replaces a file or symlink (cp overwrites); a folder stays and is an error.
      if (lstatSync(local).isDirectory()) throw hostFsError({ code: 'EISDIR' }, 'replace', local);
      unlinkSync(local);
      symlinkSync(target, local);
    }
    lutimesSync(local, seconds(entry.mtimeMs), seconds(entry.mtimeMs));
  }

  private openFile(local: string, entry: FileEntry): void {
    let fd: number;
    try {
      fd = openSync(local, WRITE_FLAGS, 0o600);
    } catch (err) {
      if (errno(err) === 'ELOOP') throw refuse(entry.path, `${local} is a symlink; files are never written through one`);
      throw hostFsError(err, 'create', local);
    }
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile()) {
      closeSync(fd);
      throw refuse(entry.path, `${local} exists and is not a regular file`);
    }
    this.files += 1;
    const file: OpenFile = { fd, entry, local, left: entry.size, ids: { dev: String(st.dev), ino: String(st.ino) }, lent: false };
    this.file = file;
    if (file.left === 0) this.closeFile(file);
  }

  private closeFile(file: OpenFile): void {
    this.file = undefined;
    try {
      fchmodSync(file.fd, file.entry.mode & FILE_MODE_MASK);
      futimesSync(file.fd, seconds(file.entry.mtimeMs), seconds(file.entry.mtimeMs));
    } finally {
      closeSync(file.fd);
    }
  }

  /** A new entry (or the end) while a file still waits for bytes: it arrived short. */
  private endFile(): void {
    const file = this.file;
    if (!file) return;
    this.closeQuietly();
    throw refuse(file.entry.path, `got ${file.entry.size - file.left} bytes, its size is ${file.entry.size}`);
  }
}

/** A call whose failure is no answer: a stat that fails for any reason (missing, not a folder on the way, no
 * permission), a close after an earlier error. */
function quietly<T>(call: () => T): T | undefined {
  try {
    return call();
  } catch {
    return undefined;
  }
}
