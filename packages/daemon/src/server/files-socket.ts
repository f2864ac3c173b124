import type { WebSocket } from 'ws';
import { FilesClientMessageSchema, LodgeError, type FilesMessage } from '@lodge/api';
import type { FileEntry } from '@lodge/api/guest';
import type { GuestService } from '../core/guest-service.js';
import { parseOrThrow } from '../core/validate.js';
import { MessageSource } from './message-source.js';
import { closeWithError, jsonMessage, sendAndWait, sendJson } from './socket-send.js';

const send = (ws: WebSocket, m: FilesMessage): Promise<void> => sendJson(ws, m);

/**
 * Copies between the client and the guest; the daemon only relays: it never opens a host file.
 * get: entry messages, each file's bytes as binary right after its entry, then done. put: the same from the client, then end.
 */
export function serveFiles(ws: WebSocket, guest: GuestService, req: { vm: string; op: 'get' | 'put'; path: string }): void {
  const abort = new AbortController();
  ws.on('close', () => abort.abort(new LodgeError('conflict', 'the client went away')));
  const copy = req.op === 'get' ? download(ws, guest, req, abort.signal) : upload(ws, guest, req, abort.signal);
  copy.then(
    (result) => send(ws, { type: 'done', ...result }).then(() => ws.close(1000, 'done')),
    (err: unknown) => closeWithError(ws, err),
  ).catch(() => undefined);
}

function download(ws: WebSocket, guest: GuestService, req: { vm: string; path: string }, signal: AbortSignal): Promise<{ entries: number; bytes: number }> {
  return guest.getFiles(req.vm, req.path, { entry: (entry) => send(ws, { type: 'entry', ...entry }), data: (chunk) => sendAndWait(ws, chunk) }, signal);
}

function upload(ws: WebSocket, guest: GuestService, req: { vm: string; path: string }, signal: AbortSignal): Promise<{ entries: number; bytes: number }> {
  const source = new MessageSource<{ entry: FileEntry } | { data: Buffer }>(ws);
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (binary) return source.push({ data });
    try {
      const m = parseOrThrow(FilesClientMessageSchema, jsonMessage(data), 'files message');
      if (m.type === 'end') return source.end();
      const { type: _type, ...entry } = m;
      source.push({ entry });
    } catch (err) {
      source.fail(err);
    }
  });
  ws.on('close', () => source.fail(new LodgeError('conflict', 'the client went away before the end message')));
  return guest.putFiles(req.vm, req.path, source, signal);
}
