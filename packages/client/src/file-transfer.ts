import type { WebSocket } from 'ws';
import { API, asApiError, LEND_MIN_BYTES, LodgeError, type FilesMessage, type LentFile } from '@lodge/api/lite';
import type { FileEntry, FilesResult } from '@lodge/api/guest';
import type { TreeItem } from './file-tree-reader.js';
import { errorFromApi } from './http-transport.js';
import { Deferred } from './deferred.js';
import { parseText, SocketInbox } from './socket-inbox.js';
import { pieces, sendPaced } from './socket-outbox.js';
import { openWebSocket } from './ws-connect.js';

/** Takes a file tree as it arrives: each entry, then (for files) its bytes. Promises give back-pressure. */
export interface FileSink {
  entry(entry: FileEntry): void | Promise<void>;
  data(chunk: Buffer): void | Promise<void>;
  /**
   * With these, a file of LEND_MIN_BYTES or more may skip the socket (lodged on this host writes it): `lend` gets its
   * entry (after entry()) and returns the open file, or undefined for its bytes as data(); `written` says lodged wrote
   * all of a lent file, and `progress` how many bytes of it so far.
   */
  lend?(entry: FileEntry): LentFile | undefined;
  written?(path: string): void | Promise<void>;
  progress?(bytes: number): void;
}

/** What an upload reports besides its result: how far lodged got reading a lent file. */
export interface PutEvents {
  progress?(bytes: number): void;
}

/** A file tree to send: entries, each file's bytes right after its entry (see readFileTree). */
export type FileSource = AsyncIterable<TreeItem>;

type Answer = Deferred<FilesResult>;

/** The text messages both directions share: done and error settle the transfer; the rest go to `on`. */
function onText(data: Buffer, what: string, answer: Answer, on: (msg: FilesMessage) => void | Promise<void>): void | Promise<void> {
  const msg = parseText<FilesMessage>(data, what);
  if (msg.type === 'done') return answer.resolve({ entries: msg.entries, bytes: msg.bytes });
  if (msg.type === 'error') {
    const known = asApiError({ error: msg.error });
    return answer.reject(known ? errorFromApi(known) : new LodgeError('internal', `${what} failed: ${JSON.stringify(msg.error)}`));
  }
  return on(msg);
}

const unexpected = (what: string, msg: FilesMessage): LodgeError => new LodgeError('internal', `${what}: unexpected "${msg.type}" message from lodged`);

async function openTransfer(
  socketPath: string,
  path: string,
  what: string,
  answer: Answer,
  message: (data: Buffer, isBinary: boolean) => void | Promise<void>,
): Promise<WebSocket> {
  const inbox = new SocketInbox({
    message,
    closed: (code, reason) => answer.reject(new LodgeError('internal', `${what}: lodged closed the connection before the copy finished (${reason || `code ${code}`})`)),
    failed: (err) => answer.reject(err),
  });
  const ws = await openWebSocket(socketPath, path, inbox.push);
  inbox.bind(ws);
  return ws;
}

function hangUp(ws: WebSocket): void {
  if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(1000);
}

/** Copies a guest path out of the VM into `sink`; resolves after the sink took everything and the daemon said done. */
export async function getFiles(socketPath: string, name: string, guestPath: string, sink: FileSink): Promise<FilesResult> {
  const what = `copy from ${name}:${guestPath}`;
  const answer: Answer = new Deferred();
  const lending = sink.lend !== undefined;
  const socket = new Deferred<WebSocket>(); // messages can come with the upgrade, before openTransfer returns
  const onEntry = async (entry: FileEntry): Promise<void> => {
    await sink.entry(entry);
    if (!lending || entry.kind !== 'file' || entry.size < LEND_MIN_BYTES) return;
    const file = sink.lend?.(entry);
    await sendPaced(await socket.promise, JSON.stringify(file ? { type: 'lend', file } : { type: 'send' }));
  };
  const ws = await openTransfer(socketPath, API.vmFiles(name, 'get', guestPath, lending), what, answer, (data, isBinary) =>
    isBinary
      ? sink.data(data)
      : onText(data, what, answer, (msg) => {
          if (msg.type === 'entry') {
            const { type: _type, lent: _lent, ...entry } = msg;
            return onEntry(entry);
          }
          if (lending && msg.type === 'progress') return sink.progress?.(msg.bytes);
          if (lending && msg.type === 'written') return sink.written?.(msg.path);
          throw unexpected(what, msg);
        }),
  );
  socket.resolve(ws);
  try {
    return await answer.promise;
  } finally {
    hangUp(ws);
  }
}

/**
 * Copies a file tree into the VM at `guestPath` (cp -r rules); resolves with the daemon's count once it wrote everything.
 * A lent file's entry waits for lodged's `opened` before the source moves on (and closes its own handle).
 */
export async function putFiles(socketPath: string, name: string, guestPath: string, source: FileSource, events: PutEvents = {}): Promise<FilesResult> {
  const what = `copy to ${name}:${guestPath}`;
  const answer: Answer = new Deferred();
  let opened: Deferred<void> | undefined;
  const ws = await openTransfer(socketPath, API.vmFiles(name, 'put', guestPath), what, answer, (data, isBinary) => {
    if (isBinary) throw new LodgeError('internal', `${what}: lodged sent binary data during an upload`);
    return onText(data, what, answer, (msg) => {
      if (msg.type === 'opened' && opened) return opened.resolve();
      if (msg.type === 'progress') return events.progress?.(msg.bytes);
      throw unexpected(what, msg);
    });
  });
  const sending = (async () => {
    for await (const item of source) {
      if (answer.settled) return; // the daemon gave up (error): stop reading local files
      if ('entry' in item) {
        // Waiting before the send: a send that waits for the socket to drain can resolve after lodged's `opened` came.
        const lent = item.lent ? (opened = new Deferred()) : undefined;
        await sendPaced(ws, JSON.stringify({ type: 'entry', ...item.entry, ...(item.lent && { lent: item.lent }) }));
        if (lent) await Promise.race([lent.promise, answer.promise]);
        opened = undefined;
      } else for (const piece of pieces(item.data)) await sendPaced(ws, piece);
    }
    await sendPaced(ws, JSON.stringify({ type: 'end' }));
  })();
  sending.catch(() => undefined); // raced below; a late failure after the daemon's answer means nothing
  try {
    await Promise.race([sending, answer.promise]);
    return await answer.promise;
  } catch (err) {
    // A send that failed because the daemon closed has a better reason on its way through the inbox.
    if (!answer.settled && ws.readyState !== ws.OPEN) await answer.promise.catch(() => undefined);
    if (!answer.settled) throw err;
    throw await answer.promise.then(() => err, (daemonError: unknown) => daemonError);
  } finally {
    answer.reject(new LodgeError('internal', `${what}: abandoned`));
    hangUp(ws);
  }
}
