// files.get: walks a file or folder (parents first, names sorted) and streams entries, then each file's bytes on ch 1.
// The walk and small files use synchronous calls, as reads always did: under TCG a threadpool round trip per call
// cost more than the call itself (500 small files: ~8 ms an entry).

import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { constants } from 'node:os';
import { basename } from 'node:path';
import { Channel, type FileEntry, type FilesResult, type Stream } from '@lodge/api/guest';
import type { FilePlane } from './file-plane.js';
import { NO_LINE, type LineContext } from './op-context.js';
import { OpError, errnoError, fsCall, fsError } from './op-error.js';
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

/**
 * Depth first, parents first, names sorted; a loop over a stack, not async recursion: under TCG (Node jitless)
 * each await and object spread per entry cost more than the entry's own system calls (500 files: 330 → 130 ms).
 */
async function walk(stream: Stream, top: string, topRel: string, result: FilesResult, line: LineContext): Promise<void> {
  const stack: [string, string][] = [[top, topRel]];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [full, rel] = next;
    const st = fsCall('stat', full, () => lstatSync(full));
    const mode = st.mode & 0o7777;
    let entry: FileEntry & { type: 'entry' };
    if (st.isDirectory()) entry = { type: 'entry', path: rel, mode, mtimeMs: st.mtimeMs, kind: 'dir', size: 0 };
    else if (st.isSymbolicLink()) {
      entry = { type: 'entry', path: rel, mode, mtimeMs: st.mtimeMs, kind: 'symlink', size: 0, target: fsCall('readlink', full, () => readlinkSync(full)) };
    } else if (st.isFile()) entry = { type: 'entry', path: rel, mode, mtimeMs: st.mtimeMs, kind: 'file', size: st.size };
    else continue; // devices, sockets and FIFOs have no portable content
    if (stream.finished) throw new OpError('cancelled', 'files.get cancelled');
    stream.control(entry);
    result.entries++;
    if (entry.kind === 'file') {
      const plane = line.plane;
      if (plane && entry.size >= PLANE_MIN_BYTES) result.bytes += await sourceFile(stream, plane, full, entry.size, line.peerMaxPayload);
      else {
        const sent = sendFile(stream, full, entry.size);
        result.bytes += typeof sent === 'number' ? sent : await sent;
      }
    } else if (entry.kind === 'dir') {
      const names = fsCall('read folder', full, () => readdirSync(full)).sort();
      for (let i = names.length - 1; i >= 0; i--) stack.push([`${full}/${names[i]}`, `${rel}/${names[i]}`]);
    }
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

/**
 * Sends exactly `size` bytes (the size announced in the entry), even if the file changes meanwhile: a number when
 * they went out at once (no await per small file, see walk), else a promise.
 */
function sendFile(stream: Stream, full: string, size: number): number | Promise<number> {
  const fd = fsCall('open', full, () => openSync(full, 'r'));
  if (size > CHUNK) return sendChunks(stream, fd, full, size).finally(() => closeSync(fd));
  let written: Promise<void>;
  try {
    // A buffer of its own: the next entry need not wait for these bytes to leave.
    const buffer = Buffer.allocUnsafe(size);
    for (let got = 0; got < size; ) got += readAt(fd, full, buffer.subarray(got), got);
    written = stream.write(Channel.Output, buffer);
  } finally {
    closeSync(fd);
  }
  // The next entry is a Control frame, sent ahead of queued Data: wait only if these bytes had to queue for credit.
  if (stream.queued(Channel.Output) > 0) return written.then(() => size);
  written.catch(() => undefined); // a cancelled stream is seen by the walk
  return size;
}

/** Reads on the main thread: a 256 KiB read from the page cache is short (a cold disk makes other streams wait that long). */
function readAt(fd: number, full: string, buffer: Buffer, position: number): number {
  const n = fsCall('read', full, () => readSync(fd, buffer, 0, buffer.length, position));
  if (n === 0) throw new OpError('internal', `read ${full}: the file shrank while it was being read`);
  return n;
}

async function sendChunks(stream: Stream, fd: number, full: string, size: number): Promise<number> {
  // Two buffers, reused in turn (one read ahead while the other is sent): fresh 256 KiB buffers cost more than
  // the copy under TCG (in-guest Node: 104 vs 275 MB/s for the same read loop). The session sends them without
  // a copy and write() resolves once they are written, so a buffer is refilled only after it went out.
  const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  let turn = 0;
  const chunkAt = (position: number): Buffer => {
    const buffer = (buffers[turn++ % 2] as Buffer).subarray(0, Math.min(CHUNK, size - position));
    return buffer.subarray(0, readAt(fd, full, buffer, position));
  };
  let sent = 0;
  for (let chunk = chunkAt(0); ; ) {
    sent += chunk.length;
    const written = stream.write(Channel.Output, chunk);
    written.catch(() => undefined); // awaited below, after the read ahead (which may throw first)
    const next = sent < size ? chunkAt(sent) : undefined;
    await written;
    if (!next) return sent;
    chunk = next;
  }
}
