import type { WebSocket } from 'ws';
import { LodgeError, type BusMessage } from '@lodge/api';
import type { GuestService } from '../core/guest-service.js';
import { sendJson } from './socket-send.js';

/** A subscriber this far behind, or taking nothing, for MAX_STALL_MS is dropped rather than holding up its topic's publishers. */
const MAX_BUFFERED = 8 * 2 ** 20;
const MAX_STALL_MS = 10_000;
const CHECK_MS = 1000;

/** A WebSocket subscriber of one topic: each delivery resolves only once the socket took the message (back-pressure). */
export function serveBus(ws: WebSocket, guest: GuestService, req: { vm: string; topic: string }): void {
  let drop: (err: Error) => void = () => undefined;
  const dropped = new Promise<never>((_, reject) => (drop = reject));
  dropped.catch(() => undefined);
  let inflight = 0;
  let progressAt = Date.now();
  let behindSince: number | undefined;

  const off = guest.subscribe(req.vm, req.topic, (m) => {
    if (inflight++ === 0) progressAt = Date.now();
    const message: BusMessage = { topic: m.topic, replyTo: m.replyTo, data: m.body.toString('base64') };
    const sent = sendJson(ws, message).finally(() => ((inflight -= 1), (progressAt = Date.now())));
    return Promise.race([sent, dropped]);
  });
  const watch = setInterval(() => {
    const now = Date.now();
    behindSince = ws.bufferedAmount > MAX_BUFFERED ? (behindSince ?? now) : undefined;
    const stalled = inflight > 0 && now - progressAt >= MAX_STALL_MS;
    if (!stalled && (behindSince === undefined || now - behindSince < MAX_STALL_MS)) return;
    drop(new LodgeError('conflict', `subscriber of "${req.topic}" took nothing for ${MAX_STALL_MS / 1000} s`));
    ws.close(1013, 'subscriber too slow');
    setTimeout(() => ws.terminate(), CHECK_MS).unref(); // a peer that reads nothing never completes the close handshake
  }, CHECK_MS);
  ws.on('close', () => {
    clearInterval(watch);
    off();
    drop(new LodgeError('conflict', 'the subscriber went away'));
  });
}
