import { constants, writeSync } from 'node:fs';
import { lstat, lutimes, mkdir, open, stat, symlink, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { LentFile } from '@lodge/api/lite';
import type { FileEntry } from '@lodge/api/guest';
import { checkEntry, pathParts, refuse } from './entry-check.js';
import type { TreeTotals } from './file-tree-reader.js';
import { hostFsError } from './host-fs-error.js';

/** Set-user/group-ID bits are dropped from files: a guest must not hand the host a privileged program. */
const FILE_MODE_MASK = 0o1777;
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

interface OpenFile {
  fh: FileHandle;
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
    await this.endFile();
    const entry = checkEntry(value);
    const local = await this.place(entry);
    this.entries += 1;
    if (entry.kind === 'dir') await this.makeDir(local, entry);
    else if (entry.kind === 'symlink') await this.makeSymlink(local, entry);
    else await this.openFile(local, entry);
  }

  /** Written at once on this thread (page-cache writes are short): a thread-pool round trip and a paused socket per
   * chunk were a third of a download's CPU here. A promise only when the chunk ends the file (it is closed). */
  data(chunk: Buffer): Promise<void> | undefined {
    const file = this.file;
    if (!file) throw refuse(null, `${chunk.length} bytes arrived without a file entry before them`);
    if (file.lent) throw refuse(file.entry.path, 'bytes arrived for a file lent to lodged');
    if (chunk.length > file.left) throw refuse(file.entry.path, `more bytes arrived than its size ${file.entry.size}`);
    try {
      for (let at = 0; at < chunk.length; ) at += writeSync(file.fh.fd, chunk, at, chunk.length - at);
    } catch (err) {
      throw hostFsError(err, 'write', file.local);
    }
    file.left -= chunk.length;
    this.bytes += chunk.length;
    return file.left === 0 ? this.closeFile(file) : undefined;
  }

  /** The file the last entry opened, lent to lodged on this host to write its bytes; undefined when none is open. */
  lend(): LentFile | undefined {
    const file = this.file;
    if (!file || file.lent || file.left < file.entry.size) return undefined;
    file.lent = true;
    return { pid: process.pid, fd: file.fh.fd, ...file.ids };
  }

  /** lodged wrote all of the lent file: it is complete (closed, its mode and time set). */
  async written(path: string): Promise<void> {
    const file = this.file;
    if (!file?.lent || file.entry.path !== path) throw refuse(path, 'lodged wrote a file that was not lent to it');
    this.bytes += file.left;
    file.left = 0;
    await this.closeFile(file);
  }

  /** Checks the last file is complete, then sets folder modes and times, deepest first; returns the counts. */
  async finish(): Promise<TreeTotals> {
    await this.endFile();
    if (!this.top) throw refuse(null, 'the copy held no entries');
    for (const { local, entry } of this.madeDirs.reverse()) {
      const fh = await open(local, DIR_FLAGS).catch((err: unknown) => Promise.reject(hostFsError(err, 'open the folder', local)));
      try {
        await fh.chmod(entry.mode);
        await fh.utimes(seconds(entry.mtimeMs), seconds(entry.mtimeMs));
      } finally {
        await fh.close();
      }
    }
    this.madeDirs.length = 0;
    return { entries: this.entries, files: this.files, bytes: this.bytes };
  }

  /** Closes what is open after a failure; what was written stays (as with cp). */
  async abort(): Promise<void> {
    await this.file?.fh.close().catch(() => undefined);
    this.file = undefined;
  }

  /** The local path of an entry, after the cp -r mapping and the no-symlink check of every parent. */
  private async place(entry: FileEntry): Promise<string> {
    const parts = pathParts(entry.path);
    if (!this.top) {
      if (parts.length !== 1) throw refuse(entry.path, 'the first entry must be the top of the tree');
      const dest = resolve(this.dest);
      const into = await stat(dest).then((st) => st.isDirectory(), () => false);
      this.top = { name: parts[0] ?? '', base: into ? dest : dirname(dest), as: into ? (parts[0] ?? '') : basename(dest) };
    } else if (parts[0] !== this.top.name || parts.length === 1) {
      throw refuse(entry.path, `it is not inside "${this.top.name}", the top of the tree`);
    }
    const local = [this.top.as, ...parts.slice(1)];
    for (let depth = 1; depth < local.length; depth++) {
      const parent = join(this.top.base, ...local.slice(0, depth));
      const st = await lstat(parent).catch(() => undefined);
      if (!st) throw refuse(entry.path, `its folder ${parent} does not exist (entries must come after their folder)`);
      if (st.isSymbolicLink()) throw refuse(entry.path, `its folder ${parent} is a symlink`);
      if (!st.isDirectory()) throw refuse(entry.path, `${parent} is not a folder`);
    }
    return join(this.top.base, ...local);
  }

  private async makeDir(local: string, entry: FileEntry): Promise<void> {
    // 0700 until finish(): a folder that will be read-only can still be filled.
    const made = await mkdir(local, { mode: 0o700 }).then(() => true, (err: unknown) => {
      if (errno(err) !== 'EEXIST') throw hostFsError(err, 'create the folder', local);
      return false;
    });
    if (made) return void this.madeDirs.push({ local, entry });
    const st = await lstat(local);
    if (st.isSymbolicLink()) throw refuse(entry.path, `${local} is a symlink`);
    if (!st.isDirectory()) throw hostFsError({ code: 'EEXIST' }, 'create the folder', local);
  }

  private async makeSymlink(local: string, entry: FileEntry): Promise<void> {
    const target = entry.target ?? '';
    await symlink(target, local).catch(async (err: unknown) => {
      if (errno(err) !== 'EEXIST') throw hostFsError(err, 'create the symlink', local);
      // Replaces a file or symlink (cp overwrites); a folder stays and is an error.
      if ((await lstat(local)).isDirectory()) throw hostFsError({ code: 'EISDIR' }, 'replace', local);
      await unlink(local);
      await symlink(target, local);
    });
    await lutimes(local, seconds(entry.mtimeMs), seconds(entry.mtimeMs));
  }

  private async openFile(local: string, entry: FileEntry): Promise<void> {
    const fh = await open(local, WRITE_FLAGS, 0o600).catch((err: unknown) => {
      if (errno(err) === 'ELOOP') throw refuse(entry.path, `${local} is a symlink; files are never written through one`);
      throw hostFsError(err, 'create', local);
    });
    const st = await fh.stat({ bigint: true });
    if (!st.isFile()) {
      await fh.close();
      throw refuse(entry.path, `${local} exists and is not a regular file`);
    }
    this.files += 1;
    const file: OpenFile = { fh, entry, local, left: entry.size, ids: { dev: String(st.dev), ino: String(st.ino) }, lent: false };
    this.file = file;
    if (file.left === 0) await this.closeFile(file);
  }

  private async closeFile(file: OpenFile): Promise<void> {
    this.file = undefined;
    try {
      await file.fh.chmod(file.entry.mode & FILE_MODE_MASK);
      await file.fh.utimes(seconds(file.entry.mtimeMs), seconds(file.entry.mtimeMs));
    } finally {
      await file.fh.close();
    }
  }

  /** A new entry (or the end) while a file still waits for bytes: it arrived short. */
  private async endFile(): Promise<void> {
    const file = this.file;
    if (!file) return;
    await this.abort();
    throw refuse(file.entry.path, `got ${file.entry.size - file.left} bytes, its size is ${file.entry.size}`);
  }
}
