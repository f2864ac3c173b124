import type { FileHandle } from 'node:fs/promises';
import type { WebSocket } from 'ws';
import { FilesClientMessageSchema, LEND_MIN_BYTES, LodgeError, type FilesMessage, type LentFile } from '@lodge/api';
import type { FileEntry } from '@lodge/api/guest';
import type { GuestService } from '../core/guest-service.js';
import type { FilesSink } from '../ports/guest-channel.js';
import { parseOrThrow } from '../core/validate.js';
import { FileAppender } from './file-appender.js';
import { LentProgress, openLentFile } from './lent-file.js';
import { MessageSource } from './message-source.js';
import { closeWithError, jsonMessage, sendAndWait, sendJson } from './socket-send.js';

/** A lent file is read in pieces of this size. */
const LENT_READ_BYTES = 1024 * 1024;

const send = (ws: WebSocket, m: FilesMessage): Promise<void> => sendJson(ws, m);

export interface FilesRequest {
  vm: string;
  op: 'get' | 'put';
  path: string;
  /** The client is on lodged's unix socket: it may lend files (put), and asked to (get) when `lend`. */
  local: boolean;
  lend: boolean;
}

type UploadItem = { entry: FileEntry; lent?: LentFile } | { data: Buffer };

/**
 * Copies between the client and the guest; the daemon only relays: it never opens a host file by name. A local
 * client may lend it an open file instead (docs/api.md), and then lodged moves that file's bytes itself.
 * get: entry messages, each file's bytes as binary right after its entry, then done. put: the same from the client, then end.
 */
export function serveFiles(ws: WebSocket, guest: GuestService, req: FilesRequest): void {
  const abort = new AbortController();
  ws.on('close', () => abort.abort(new LodgeError('conflict', 'the client went away')));
  const copy = req.op === 'get' ? download(ws, guest, req, abort.signal) : upload(ws, guest, req, abort.signal);
  copy.then(
    (result) => send(ws, { type: 'done', ...result }).then(() => ws.close(1000, 'done')),
    (err: unknown) => closeWithError(ws, err),
  ).catch(() => undefined);
}

function clientMessage(data: Buffer): FilesMessage {
  return parseOrThrow(FilesClientMessageSchema, jsonMessage(data), 'files message');
}

async function download(ws: WebSocket, guest: GuestService, req: FilesRequest, signal: AbortSignal): Promise<{ entries: number; bytes: number }> {
  if (!req.lend) {
    return guest.getFiles(req.vm, req.path, { entry: (entry) => send(ws, { type: 'entry', ...entry }), data: (chunk) => sendAndWait(ws, chunk) }, signal);
  }
  const sink = new LendingSink(ws);
  ws.on('message', (data: Buffer, binary: boolean) => sink.answer(binary ? undefined : data));
  try {
    return await guest.getFiles(req.vm, req.path, sink, signal);
  } finally {
    await sink.close();
  }
}

/**
 * A get with lend=1: after each file entry of LEND_MIN_BYTES or more, the client's answer decides where its bytes
 * go. Calls come before the previous one settled (FilesSink), so each runs after the last, in order.
 */
class LendingSink implements FilesSink {
  #chain: Promise<void> = Promise.resolve();
  #asked: { resolve(m: FilesMessage): void; reject(err: unknown): void } | undefined;
  #lent: { fh: FileHandle; appender: FileAppender; path: string; left: number; progress: LentProgress } | undefined;

  constructor(private readonly ws: WebSocket) {}

  entry(entry: FileEntry): Promise<void> {
    return this.#then(async () => {
      await send(this.ws, { type: 'entry', ...entry });
      if (entry.kind !== 'file' || entry.size < LEND_MIN_BYTES) return;
      const answer = await new Promise<FilesMessage>((resolve, reject) => (this.#asked = { resolve, reject }));
      if (answer.type !== 'lend') return;
      const fh = await openLentFile(answer.file, 'write', entry.path);
      const progress = new LentProgress((bytes) => send(this.ws, { type: 'progress', bytes }));
      this.#lent = { fh, appender: new FileAppender(fh), path: entry.path, left: entry.size, progress };
    });
  }

  /**
   * Settles once the chunk is sent on, or is in the lent file. A lent file's chunks are queued without waiting for
   * the one before (FileAppender batches them); its last one waits for them all, then closes the file.
   */
  data(chunk: Buffer): Promise<void> {
    let written: Promise<void> = Promise.resolve();
    const step = this.#then(async () => {
      const lent = this.#lent;
      if (!lent) return sendAndWait(this.ws, chunk);
      lent.left -= chunk.length;
      const last = lent.left === 0;
      written = lent.appender.append(chunk).then(() => lent.progress.add(chunk.length, last));
      if (!last) return;
      await written;
      this.#lent = undefined;
      await lent.fh.close();
      await send(this.ws, { type: 'written', path: lent.path });
    });
    return step.then(() => written);
  }

  /** A text message from the client: the answer to the last big entry; anything else ends the copy. */
  answer(data: Buffer | undefined): void {
    const asked = this.#asked;
    this.#asked = undefined;
    let message: FilesMessage | undefined;
    try {
      if (!data) throw new LodgeError('invalid_argument', 'a download takes no binary messages from the client');
      message = clientMessage(data);
      if (message.type !== 'lend' && message.type !== 'send') throw new LodgeError('invalid_argument', `a download takes lend or send from the client, not ${message.type}`);
      if (!asked) throw new LodgeError('invalid_argument', `${message.type} came before an entry asked for it`);
      asked.resolve(message);
    } catch (err) {
      if (asked) return asked.reject(err);
      closeWithError(this.ws, err);
    }
  }

  /** Lets go of a lent file a failed copy left open. */
  async close(): Promise<void> {
    this.#asked?.reject(new LodgeError('conflict', 'the copy ended'));
    await this.#chain.catch(() => undefined);
    await this.#lent?.fh.close().catch(() => undefined);
    this.#lent = undefined;
  }

  #then(step: () => Promise<void>): Promise<void> {
    const next = this.#chain.then(step);
    this.#chain = next;
    return next;
  }
}

function upload(ws: WebSocket, guest: GuestService, req: FilesRequest, signal: AbortSignal): Promise<{ entries: number; bytes: number }> {
  const source = new MessageSource<UploadItem>(ws);
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (binary) return source.push({ data });
    try {
      const m = clientMessage(data);
      if (m.type === 'end') return source.end();
      if (m.type !== 'entry') throw new LodgeError('invalid_argument', `an upload takes entry and end messages, not ${m.type}`);
      const { type: _type, lent, ...entry } = m;
      if (lent && !req.local) throw new LodgeError('invalid_argument', `${entry.path}: only a client on lodged's unix socket can lend a file`);
      if (lent && entry.kind !== 'file') throw new LodgeError('invalid_argument', `${entry.path}: only a file's entry can lend one`);
      source.push(lent ? { entry, lent } : { entry });
    } catch (err) {
      source.fail(err);
    }
  });
  ws.on('close', () => source.fail(new LodgeError('conflict', 'the client went away before the end message')));
  return guest.putFiles(req.vm, req.path, withLentBytes(ws, source), signal);
}

/** The upload as the guest takes it: a lent file's entry, then its bytes read here. */
async function* withLentBytes(ws: WebSocket, source: AsyncIterable<UploadItem>): AsyncGenerator<{ entry: FileEntry } | { data: Buffer }> {
  for await (const item of source) {
    if (!('lent' in item) || !item.lent) {
      yield 'data' in item ? item : { entry: item.entry };
      continue;
    }
    const { entry } = item;
    const fh = await openLentFile(item.lent, 'read', entry.path);
    try {
      await send(ws, { type: 'opened', path: entry.path });
      yield { entry };
      const progress = new LentProgress((bytes) => send(ws, { type: 'progress', bytes }));
      for (let at = 0; at < entry.size; ) {
        const want = Math.min(LENT_READ_BYTES, entry.size - at);
        const { buffer, bytesRead } = await fh.read(Buffer.allocUnsafe(want), 0, want, at);
        if (bytesRead === 0) throw new LodgeError('invalid_argument', `${entry.path}: the lent file shrank to ${at} bytes while being copied (its entry said ${entry.size})`);
        at += bytesRead;
        await progress.add(bytesRead, at === entry.size);
        yield { data: buffer.subarray(0, bytesRead) };
      }
    } finally {
      await fh.close();
    }
  }
}
