import type { WebSocket } from 'ws';
import { LodgeError } from '@lodge/api/lite';

/** Bytes ws may hold unsent before a sender has to wait: enough to keep a unix socket busy. */
export const HIGH_WATER = 1024 * 1024;
/** The daemon takes WebSocket messages up to 1 MiB; binary data goes in pieces of this size. */
export const PIECE_BYTES = 256 * 1024;

/**
 * Sends one message (text for a string, binary for a Buffer). Resolves at once while little is queued,
 * else when this message has been written to the socket: callers that await it get back-pressure.
 */
export function sendPaced(ws: WebSocket, data: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (ws.readyState !== ws.OPEN) {
      reject(new LodgeError('internal', 'the connection to lodged is closed'));
      return;
    }
    let waiting = false;
    ws.send(data, { binary: typeof data !== 'string' }, (err) => {
      if (!waiting) return; // already resolved; a failed socket shows up as its 'close'
      if (err) reject(new LodgeError('internal', `sending to lodged failed: ${err.message}`, { cause: err }));
      else resolve();
    });
    if (ws.bufferedAmount < HIGH_WATER) resolve();
    else waiting = true;
  });
}

/** Splits a chunk into pieces the daemon accepts as single messages. */
export function* pieces(chunk: Buffer, size = PIECE_BYTES): Generator<Buffer> {
  for (let at = 0; at < chunk.length; at += size) yield chunk.subarray(at, at + size);
}
