// files.put: writes the entries and bytes the host streams on ch 0 (folders, files with modes, symlinks, mtimes).
// Entry paths are checked: no absolute paths, no empty/./.. components, nothing through a symlink this put created.
// With FEATURE_PUT_READY on both ends, a file of PUT_READY_BYTES or more is answered with Control `ready` once it is
// open; through lodge-port its bytes then go from the port to the file in C (a sink), never through JS.
// File system calls per entry are synchronous, as the writes always were: under TCG a threadpool round trip costs
// more than the call (500 small files: ~4 ms an entry through the threadpool).

import { closeSync, constants, fchmodSync, futimesSync, lstatSync, lutimesSync, mkdirSync, openSync, statSync, symlinkSync, unlinkSync, writevSync } from 'node:fs';
import { chmod, stat, utimes } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { BULK_EXTRA_WINDOW, Channel, FEATURE_PUT_READY, PUT_READY_BYTES, type FileEntry, type FilesResult, type Stream } from '@lodge/api/guest';
import { EventQueue } from './event-queue.js';
import { entryComponents, parseEntry } from './file-entry.js';
import { NO_LINE, type LineContext } from './op-context.js';
import { OpError, errnoError, fsCall, fsError } from './op-error.js';
import { reqStr, type Fields } from './validate.js';

type PutEvent = { entry: unknown } | { data: Buffer } | { end: true } | { cancelled: true } | { sinkDone: number };
const isData = (e: PutEvent): e is { data: Buffer } => 'data' in e;
interface OpenFile {
  fd: number;
  path: string;
  entry: FileEntry;
  remaining: number;
  /** lodge-port writes its bytes; resolves once it let go of the file. */
  sunk?: Promise<void>;
}
/** Called once a file is open, before its bytes come. */
type OnOpen = (file: OpenFile) => Promise<void>;

const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;

export async function runFilesPut(stream: Stream, fields: Fields, line: LineContext = NO_LINE): Promise<void> {
  const raw = reqStr(fields, 'path');
  if (raw === '') throw new OpError('invalid_argument', 'path must not be empty');
  // Listen before the first await: the host sends entries right after Open, and unheard events are lost.
  const queue = new EventQueue<PutEvent>();
  stream.on('control', (m) => queue.push({ entry: m }));
  stream.on('data', (channel, chunk) => {
    if (channel === Channel.Input) queue.push({ data: chunk });
    else stream.consumed(channel, chunk.length);
  });
  stream.on('end', (channel) => channel === Channel.Input && queue.push({ end: true }));
  stream.on('done', () => queue.push({ cancelled: true }));
  // A deeper pipeline than the initial window (the host keeps sending while we write).
  stream.grant(Channel.Input, BULK_EXTRA_WINDOW);
  const dest = raw.length > 1 ? raw.replace(/\/+$/, '') : raw;
  const destStat = await stat(dest).catch(() => undefined);
  const intoFolder = destStat?.isDirectory() ?? false;
  const base = intoFolder ? dest : dirname(dest);
  if (!intoFolder && !(await stat(base).catch(() => undefined))?.isDirectory()) {
    throw new OpError('not_found', `put ${dest}: folder ${base} does not exist in the guest`);
  }
  const ready = line.peerFeatures.includes(FEATURE_PUT_READY);
  const plane = line.plane;
  const onOpen: OnOpen = async (file) => {
    if (!ready || file.entry.size < PUT_READY_BYTES) return;
    if (plane) {
      let ended = (): void => undefined;
      file.sunk = new Promise((resolve) => (ended = resolve));
      const errno = await plane.sink(stream.id, Channel.Input, file.fd, file.entry.size, {
        sunk: (n, returned) => stream.sunk(Channel.Input, n, returned),
        done: (code) => (ended(), queue.push({ sinkDone: code })),
      });
      if (errno !== 0) {
        file.sunk = undefined;
        throw errnoError('write', file.path, errno);
      }
    }
    stream.control({ type: 'ready' });
  };
  const writer = new TreeWriter(base, intoFolder ? undefined : basename(dest), onOpen);
  try {
    for await (const event of queue) {
      if ('cancelled' in event) return;
      if ('sinkDone' in event) await writer.sunk(event.sinkDone);
      else if ('entry' in event) await writer.entry(parseEntry(event.entry));
      else if ('data' in event) {
        // Everything already queued goes to the file in one writev; credit returns once it is written.
        const chunks = [event.data, ...queue.takeWhile(isData, 64).map((e) => e.data)];
        const n = await writer.data(chunks);
        stream.consumed(Channel.Input, n);
      } else {
        stream.finish(await writer.finish());
        return;
      }
    }
  } finally {
    queue.end();
    if (writer.sinking) plane?.unsink(stream.id);
    await writer.abort();
  }
}

/** Writes on the main thread: a threadpool round trip per batch halves throughput under TCG; page-cache writes are short. */
function writeAll(file: OpenFile, batch: Buffer[], size: number): void {
  let written = 0;
  while (written < size) {
    try {
      written += writevSync(file.fd, written === 0 ? batch : [Buffer.concat(batch).subarray(written)]);
    } catch (e) {
      throw fsError('write', file.path, e);
    }
  }
}

class TreeWriter {
  private top: string | undefined;
  private readonly createdLinks = new Set<string>();
  private readonly dirs: { path: string; mode: number; mtimeMs: number }[] = [];
  private file: OpenFile | undefined;
  private readonly result: FilesResult = { entries: 0, bytes: 0 };

  constructor(private readonly base: string, private readonly rename: string | undefined, private readonly onOpen: OnOpen) {}

  /** lodge-port is writing the open file. */
  get sinking(): boolean {
    return this.file?.sunk !== undefined;
  }

  /** lodge-port ended the open file's sink: errno 0 = all its bytes are written. */
  async sunk(errno: number): Promise<void> {
    const file = this.file;
    if (!file?.sunk) return;
    if (errno !== 0) throw errnoError('write', file.path, errno);
    this.result.bytes += file.remaining;
    file.remaining = 0;
    file.sunk = undefined;
    this.closeFile();
  }

  async entry(entry: FileEntry): Promise<void> {
    if (this.file) throw new OpError('invalid_argument', `entry ${entry.path} came before the last ${this.file.remaining} bytes of ${this.file.entry.path}`);
    const parts = entryComponents(entry.path);
    this.top ??= parts[0];
    if (parts[0] !== this.top) throw new OpError('invalid_argument', `entry ${entry.path}: outside the tree ${this.top}`);
    if (this.rename) parts[0] = this.rename;
    const prefix = this.base === '/' ? '' : this.base;
    for (let i = 1; i <= parts.length; i++) {
      const ancestor = `${prefix}/${parts.slice(0, i).join('/')}`;
      if (this.createdLinks.has(ancestor)) {
        throw new OpError('invalid_argument', `entry ${entry.path}: refused, it goes through the symlink ${ancestor} this copy created`);
      }
    }
    const target = `${prefix}/${parts.join('/')}`;
    this.result.entries++;
    if (entry.kind === 'dir') this.makeDir(target, entry);
    else if (entry.kind === 'symlink') this.makeLink(target, entry);
    else await this.openFile(target, entry);
  }

  /** Writes chunks of the open file (they may end it exactly); resolves with the bytes written. */
  async data(chunks: Buffer[]): Promise<number> {
    let total = 0;
    while (chunks.length > 0) {
      const file = this.file;
      if (!file || file.sunk) throw new OpError('invalid_argument', 'file data beyond the size its entry announced');
      const batch: Buffer[] = [];
      let size = 0;
      while (chunks.length > 0 && size + (chunks[0] as Buffer).length <= file.remaining) {
        const c = chunks.shift() as Buffer;
        batch.push(c);
        size += c.length;
      }
      if (batch.length === 0) throw new OpError('invalid_argument', `${file.entry.path}: more bytes than the ${file.entry.size} its entry announced`);
      writeAll(file, batch, size);
      file.remaining -= size;
      this.result.bytes += size;
      total += size;
      if (file.remaining === 0) this.closeFile();
    }
    return total;
  }

  /** Folder modes and times last, deepest first: a read-only folder must not block its own children. */
  async finish(): Promise<FilesResult> {
    if (this.file) throw new OpError('invalid_argument', `${this.file.entry.path}: ${this.file.remaining} bytes missing at the end`);
    for (const dir of this.dirs.reverse()) {
      await chmod(dir.path, dir.mode).catch((e: unknown) => { throw fsError('chmod', dir.path, e); });
      await utimes(dir.path, new Date(dir.mtimeMs), new Date(dir.mtimeMs)).catch(() => undefined);
    }
    return this.result;
  }

  async abort(): Promise<void> {
    await this.file?.sunk; // the relay answers the UNSINK (or died: the plane ended it)
    const file = this.file;
    if (file) quietly(() => closeSync(file.fd));
    this.file = undefined;
  }

  private makeDir(path: string, entry: FileEntry): void {
    try {
      mkdirSync(path, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError('mkdir', path, e);
      if (!quietly(() => statSync(path))?.isDirectory()) throw new OpError('invalid_argument', `mkdir ${path}: exists and is not a folder`);
    }
    this.dirs.push({ path, mode: entry.mode, mtimeMs: entry.mtimeMs });
  }

  private makeLink(path: string, entry: FileEntry): void {
    const existing = quietly(() => lstatSync(path));
    if (existing?.isDirectory()) throw new OpError('invalid_argument', `symlink ${path}: a folder is in the way`);
    if (existing) fsCall('unlink', path, () => unlinkSync(path));
    fsCall('symlink', path, () => symlinkSync(entry.target as string, path));
    this.createdLinks.add(path);
    const time = new Date(entry.mtimeMs);
    try {
      lutimesSync(path, time, time);
    } catch {
      // a time is not worth failing the copy (some file systems refuse it on links)
    }
  }

  private async openFile(path: string, entry: FileEntry): Promise<void> {
    let fd: number;
    try {
      fd = openSync(path, WRITE_FLAGS, 0o600);
    } catch (e) {
      // O_NOFOLLOW: an existing symlink at the name is replaced, never written through.
      if ((e as NodeJS.ErrnoException).code !== 'ELOOP') throw fsError('open', path, e);
      fsCall('unlink', path, () => unlinkSync(path));
      fd = fsCall('open', path, () => openSync(path, WRITE_FLAGS, 0o600));
    }
    this.file = { fd, path, entry, remaining: entry.size };
    if (entry.size === 0) this.closeFile();
    else await this.onOpen(this.file);
  }

  /** Mode after the bytes, explicitly (umask must not change it), then the mtime. */
  private closeFile(): void {
    const file = this.file as OpenFile;
    this.file = undefined;
    try {
      fchmodSync(file.fd, file.entry.mode);
      const time = new Date(file.entry.mtimeMs);
      futimesSync(file.fd, time, time);
    } catch (e) {
      quietly(() => closeSync(file.fd)); // the chmod's error is the one to report
      throw fsError('chmod', file.path, e);
    }
    fsCall('close', file.path, () => closeSync(file.fd)); // NFS reports a failed delayed write here
  }
}

/** A call whose failure is no answer: a stat that finds nothing usable, a close after an earlier error. */
function quietly<T>(call: () => T): T | undefined {
  try {
    return call();
  } catch {
    return undefined;
  }
}
