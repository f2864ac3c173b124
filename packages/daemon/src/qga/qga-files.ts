import { posix } from 'node:path';
import { LodgeError } from '@lodge/api';
import type { FileEntry, FilesResult } from '@lodge/api/guest';
import type { FilesSink, FilesSource } from '../ports/guest-channel.js';
import { runChecked } from './guest-process.js';
import { fileClose, fileOpen, fileRead, fileSeek, fileWrite } from './qga-commands.js';
import type { QgaClient } from './qga-client.js';
import { QgaError, needsAgent } from './qga-errors.js';
import type { QgaLogger } from './qga-logger.js';

/** 48 KiB raw is 64 KiB of base64: replies stay small, so exec polls interleave without long waits. */
export const FILE_CHUNK = 48 * 1024;
/** Files without a usable size are read whole before their entry: keep that bounded. */
export const MAX_UNSIZED_BYTES = 16 * 1024 * 1024;

export interface FilesContext {
  client: QgaClient;
  /** guest-exec allowed: then stat/chmod give real modes and times. */
  canExec: boolean;
  log: QgaLogger;
}

const folderError = (): LodgeError => needsAgent('copying folders');
const isDirError = (err: unknown): boolean => err instanceof QgaError && /Is a directory/.test(err.desc ?? '');
const guestArg = (path: string): string => (path.startsWith('-') ? `./${path}` : path); // never an option to stat/chmod

/** Copies one regular file out of the guest: guest-file-open/read/close, 48 KiB at a time. */
export async function getFile(ctx: FilesContext, path: string, sink: FilesSink, signal?: AbortSignal): Promise<FilesResult> {
  const { client } = ctx;
  const name = posix.basename(path);
  if (name === '' || name === '.' || name === '..') throw new LodgeError('invalid_argument', `"${path}" does not name a file`);
  const meta = ctx.canExec ? await statFile(ctx, path) : undefined;
  if (meta?.kind === 'dir') throw folderError();
  if (meta && meta.kind !== 'file') throw new LodgeError('invalid_argument', `"${path}" is not a regular file (${meta.type})`);
  const handle = await fileOpen(client, path, 'r');
  try {
    const entry: FileEntry = { path: name, kind: 'file', mode: meta?.mode ?? 0o644, size: 0, mtimeMs: meta?.mtimeMs ?? Date.now() };
    const read = async (count: number): Promise<{ data: Buffer; eof: boolean }> => {
      signal?.throwIfAborted();
      return fileRead(client, handle, count).catch((err: unknown) => {
        throw isDirError(err) ? folderError() : err; // without guest-exec, reading is where a folder shows
      });
    };
    const size = await sizeOf(ctx, path, handle);
    if (size === undefined) {
      // /proc, /sys and unseekable files: their size is known only after reading them.
      const parts: Buffer[] = [];
      let total = 0;
      for (let eof = false; !eof;) {
        const chunk = await read(FILE_CHUNK);
        parts.push(chunk.data);
        total += chunk.data.length;
        eof = chunk.eof || chunk.data.length === 0;
        if (total > MAX_UNSIZED_BYTES) throw new LodgeError('invalid_argument', `"${path}" has no size and is over ${MAX_UNSIZED_BYTES} bytes`);
      }
      await sink.entry({ ...entry, size: total });
      if (total > 0) await sink.data(Buffer.concat(parts, total));
      return { entries: 1, bytes: total };
    }
    let done = 0;
    for (let eof = false; done < size && !eof;) {
      const chunk = await read(Math.min(FILE_CHUNK, size - done));
      if (done === 0) await sink.entry({ ...entry, size }); // after the first read succeeded: a folder has failed by now
      const data = chunk.data.subarray(0, size - done);
      done += data.length;
      eof = chunk.eof;
      if (data.length > 0) await sink.data(data);
      if (data.length === 0 && !eof) throw new LodgeError('qemu_failed', `guest agent read no bytes from "${path}" before its end`);
    }
    if (size === 0) await sink.entry({ ...entry, size });
    if (done < size) throw new LodgeError('conflict', `"${path}" shrank while it was copied (${done} of ${size} bytes)`);
    return { entries: 1, bytes: done };
  } finally {
    await fileClose(client, handle).catch((err: unknown) => ctx.log.debug({ err, path }, 'guest-file-close failed'));
  }
}

/** Seeking to the end tells the size without guest-exec; undefined where that size would be a lie. */
async function sizeOf(ctx: FilesContext, path: string, handle: number): Promise<number | undefined> {
  if (/^\/(proc|sys)\//.test(path)) return undefined; // their files report 0 or 4096 whatever they hold
  try {
    const size = await fileSeek(ctx.client, handle, 0, 'end');
    await fileSeek(ctx.client, handle, 0, 'set');
    return size;
  } catch (err) {
    if (isDirError(err)) throw folderError();
    if (err instanceof QgaError && err.reason === 'command') return undefined;
    throw err;
  }
}

/** Copies one regular file into the guest; into an existing folder it lands inside it (as cp does). */
export async function putFile(ctx: FilesContext, path: string, source: FilesSource, signal?: AbortSignal): Promise<FilesResult> {
  const { client } = ctx;
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) throw new LodgeError('invalid_argument', 'the upload has no entry');
  if (!('entry' in first.value)) throw new LodgeError('invalid_argument', 'the upload must start with an entry');
  const entry = first.value.entry;
  if (entry.kind === 'dir') throw folderError();
  if (entry.kind !== 'file') throw needsAgent('copying symlinks');
  if (entry.path.includes('/') || entry.path === '' || entry.path === '.' || entry.path === '..') {
    throw entry.path.includes('/') ? folderError() : new LodgeError('invalid_argument', `bad entry path "${entry.path}"`);
  }
  let target = path;
  let handle: number;
  try {
    handle = await fileOpen(client, target, 'w');
  } catch (err) {
    if (!isDirError(err)) throw err;
    target = posix.join(path, entry.path);
    handle = await fileOpen(client, target, 'w');
  }
  let written = 0;
  try {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (): Promise<void> => {
      const data = Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      for (let at = 0; at < data.length; at += FILE_CHUNK) {
        const part = data.subarray(at, at + FILE_CHUNK);
        const n = await fileWrite(client, handle, part);
        if (n !== part.length) throw new LodgeError('qemu_failed', `guest agent wrote ${n} of ${part.length} bytes to "${target}"`);
        written += n;
      }
    };
    for (let next = await it.next(); !next.done; next = await it.next()) {
      signal?.throwIfAborted();
      if ('entry' in next.value) throw folderError(); // a second entry means a folder tree
      pending.push(next.value.data);
      pendingBytes += next.value.data.length;
      if (written + pendingBytes > entry.size) throw new LodgeError('invalid_argument', `more bytes than the entry's size ${entry.size} for "${entry.path}"`);
      if (pendingBytes >= FILE_CHUNK) await flush();
    }
    await flush();
    if (written !== entry.size) throw new LodgeError('invalid_argument', `got ${written} bytes for "${entry.path}", its entry said ${entry.size}`);
  } finally {
    await fileClose(client, handle).catch((err: unknown) => ctx.log.debug({ err, path: target }, 'guest-file-close failed'));
  }
  // qemu-ga creates files 0666 & ~umask and has no chmod: the mode needs guest-exec (a best effort without it).
  if (ctx.canExec) {
    await runChecked(client, ['chmod', (entry.mode & 0o7777).toString(8), guestArg(target)])
      .catch((err: unknown) => ctx.log.warn({ err, path: target, mode: entry.mode }, 'chmod in the guest failed; the file keeps its default mode'));
  } else ctx.log.debug({ path: target, mode: entry.mode }, 'mode not applied: guest-exec is not allowed');
  return { entries: 1, bytes: written };
}

interface FileMeta {
  kind: 'file' | 'dir' | 'other';
  type: string;
  mode: number;
  mtimeMs: number;
}

async function statFile(ctx: FilesContext, path: string): Promise<FileMeta | undefined> {
  try {
    const out = (await runChecked(ctx.client, ['stat', '-L', '-c', '%a|%Y|%F', guestArg(path)])).toString('utf8').trim();
    const [mode = '', mtime = '', type = ''] = out.split('|');
    const kind = type === 'directory' ? 'dir' : /regular/.test(type) ? 'file' : 'other';
    return { kind, type, mode: parseInt(mode, 8) || 0o644, mtimeMs: Number(mtime) * 1000 || Date.now() };
  } catch (err) {
    // Missing stat(1) or a missing file alike: guest-file-open right after reports the real problem.
    ctx.log.debug({ err, path }, 'stat through guest-exec failed; using defaults');
    return undefined;
  }
}
