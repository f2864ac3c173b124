import type { WebSocket } from 'ws';
import { API, asApiError, LodgeError, type FilesMessage } from '@lodge/api/lite';
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
}

/** A file tree to send: entries, each file's bytes right after its entry (see readFileTree). */
export type FileSource = AsyncIterable<TreeItem>;

type Answer = Deferred<FilesResult>;

/** The text messages both directions share: done and error settle the transfer; entries go to `onEntry`. */
function onText(data: Buffer, what: string, answer: Answer, onEntry?: (entry: FileEntry) => void | Promise<void>): void | Promise<void> {
  const msg = parseText<FilesMessage>(data, what);
  if (msg.type === 'done') return answer.resolve({ entries: msg.entries, bytes: msg.bytes });
  if (msg.type === 'error') {
    const known = asApiError({ error: msg.error });
    return answer.reject(known ? errorFromApi(known) : new LodgeError('internal', `${what} failed: ${JSON.stringify(msg.error)}`));
  }
  if (msg.type === 'entry' && onEntry) {
    const { type: _type, ...entry } = msg;
    return onEntry(entry);
  }
  throw new LodgeError('internal', `${what}: unexpected "${msg.type}" message from lodged`);
}

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
  const ws = await openTransfer(socketPath, API.vmFiles(name, 'get', guestPath), what, answer, (data, isBinary) =>
    isBinary ? sink.data(data) : onText(data, what, answer, (entry) => sink.entry(entry)),
  );
  try {
    return await answer.promise;
  } finally {
    hangUp(ws);
  }
}

/** Copies a file tree into the VM at `guestPath` (cp -r rules); resolves with the daemon's count once it wrote everything. */
export async function putFiles(socketPath: string, name: string, guestPath: string, source: FileSource): Promise<FilesResult> {
  const what = `copy to ${name}:${guestPath}`;
  const answer: Answer = new Deferred();
  const ws = await openTransfer(socketPath, API.vmFiles(name, 'put', guestPath), what, answer, (data, isBinary) => {
    if (isBinary) throw new LodgeError('internal', `${what}: lodged sent binary data during an upload`);
    return onText(data, what, answer);
  });
  const sending = (async () => {
    for await (const item of source) {
      if (answer.settled) return; // the daemon gave up (error): stop reading local files
      if ('entry' in item) await sendPaced(ws, JSON.stringify({ type: 'entry', ...item.entry }));
      else for (const piece of pieces(item.data)) await sendPaced(ws, piece);
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
