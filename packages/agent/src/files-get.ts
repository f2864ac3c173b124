// files.get: walks a file or folder (parents first, names sorted) and streams entries, then each file's bytes on ch 1.

import { readSync } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { constants } from 'node:os';
import { basename } from 'node:path';
import { Channel, type FileEntry, type FilesResult, type Stream } from '@lodge/api/guest';
import type { FilePlane } from './file-plane.js';
import { NO_LINE, type LineContext } from './op-context.js';
import { OpError, errnoError, fsError } from './op-error.js';
import { reqStr, type Fields } from './validate.js';

const CHUNK = 256 * 1024;
const { ENODATA } = constants.errno;
/** Smaller files go through JS: a relay round trip (SOURCE … DONE) costs more than their bytes. */
const PLANE_MIN_BYTES = 64 * 1024;

export async function runFilesGet(stream: Stream, fields: Fields, line: LineContext = NO_LINE): Promise<void> {
  const path = reqStr(fields, 'path');
  if (path === '') throw new OpError('invalid_argument', 'path must not be empty');
  const top = basename(path.replace(/\/+$/, ''));
  if (top === '' || top === '.' || top === '..') {
    throw new OpError('invalid_argument', `path ${path}: name a file or folder (its name becomes the top entry)`);
  }
  const result: FilesResult = { entries: 0, bytes: 0 };
  await walk(stream, path, top, result, line);
  stream.finish(result);
}

async function walk(stream: Stream, full: string, rel: string, result: FilesResult, line: LineContext): Promise<void> {
  const st = await lstat(full).catch((e: unknown) => {
    throw fsError('stat', full, e);
  });
  const base = { path: rel, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs };
  let entry: FileEntry;
  if (st.isDirectory()) entry = { ...base, kind: 'dir', size: 0 };
  else if (st.isSymbolicLink()) {
    const target = await readlink(full).catch((e: unknown) => {
      throw fsError('readlink', full, e);
    });
    entry = { ...base, kind: 'symlink', size: 0, target };
  } else if (st.isFile()) entry = { ...base, kind: 'file', size: st.size };
  else return; // devices, sockets and FIFOs have no portable content
  if (stream.finished) throw new OpError('cancelled', 'files.get cancelled');
  stream.control({ type: 'entry', ...entry });
  result.entries++;
  if (entry.kind === 'file') {
    const plane = line.plane;
    result.bytes += plane && entry.size >= PLANE_MIN_BYTES ? await sourceFile(stream, plane, full, entry.size, line.peerMaxPayload) : await sendFile(stream, full, entry.size);
  }
  if (entry.kind === 'dir') {
    const names = await readdir(full).catch((e: unknown) => {
      throw fsError('read folder', full, e);
    });
    for (const name of names.sort()) await walk(stream, `${full}/${name}`, `${rel}/${name}`, result, line);
  }
}

/**
 * The file's bytes through lodge-port: it reads the file and writes the Data frames within the credit we lend it
 * and the host's Windows it takes itself meanwhile; at the end we take back what it did not use. The next entry or
 * Finish goes after DONE.
 */
async function sourceFile(stream: Stream, plane: FilePlane, full: string, size: number, maxPayload: number): Promise<number> {
  const handle = await open(full, 'r').catch((e: unknown) => {
    throw fsError('open', full, e);
  });
  let lent = 0;
  const lend = (): void => {
    const n = stream.lendCredit(Channel.Output);
    lent += n;
    plane.go(stream.id, n);
  };
  const onCredit = (channel: number): void => void (channel === Channel.Output && lend());
  const onDone = (): void => plane.stop(stream.id);
  try {
    const ended = plane.source(stream.id, Channel.Output, handle.fd, 0, size, maxPayload);
    stream.on('credit', onCredit).on('done', onDone);
    lend();
    const { sent, errno, taken } = await ended;
    stream.repay(Channel.Output, lent + taken - sent);
    if (stream.finished) throw new OpError('cancelled', 'files.get cancelled');
    if (errno === ENODATA) throw new OpError('internal', `read ${full}: the file shrank while it was being read`);
    if (errno !== 0) throw errnoError('read', full, errno);
    return sent;
  } finally {
    stream.off('credit', onCredit).off('done', onDone);
    await handle.close();
  }
}

/** Sends exactly `size` bytes (the size announced in the entry), even if the file changes meanwhile. */
async function sendFile(stream: Stream, full: string, size: number): Promise<number> {
  const handle = await open(full, 'r').catch((e: unknown) => {
    throw fsError('open', full, e);
  });
  // Two buffers, reused in turn (one read ahead while the other is sent): fresh 256 KiB buffers cost more than
  // the copy under TCG (in-guest Node: 104 vs 275 MB/s for the same read loop). The session sends them without
  // a copy and write() resolves once they are written, so a buffer is refilled only after it went out.
  const buffers = size > 0 ? [Buffer.allocUnsafe(Math.min(CHUNK, size)), Buffer.allocUnsafe(Math.min(CHUNK, size))] : [];
  let turn = 0;
  const readAt = async (position: number): Promise<Buffer> => {
    const whole = buffers[turn++ % 2] as Buffer;
    const buffer = whole.subarray(0, Math.min(CHUNK, size - position));
    let bytesRead: number;
    try {
      // Read on the main thread: a threadpool round trip per chunk halves throughput under TCG, and a 256 KiB
      // read from the page cache is short (a cold disk makes other streams wait that long).
      bytesRead = readSync(handle.fd, buffer, 0, buffer.length, position);
    } catch (e) {
      throw fsError('read', full, e);
    }
    if (bytesRead === 0) throw new OpError('internal', `read ${full}: the file shrank while it was being read`);
    return buffer.subarray(0, bytesRead);
  };
  try {
    let sent = 0;
    let next = size > 0 ? readAt(0) : undefined;
    while (next) {
      const chunk = await next;
      sent += chunk.length;
      // Read ahead while this chunk waits for credit.
      next = sent < size ? readAt(sent) : undefined;
      next?.catch(() => undefined);
      await stream.write(Channel.Output, chunk);
    }
    return sent;
  } finally {
    await handle.close();
  }
}
