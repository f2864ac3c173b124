import type { WebSocket } from 'ws';
import { LodgeError } from '@lodge/api';

/** Sends and resolves once `ws` handed the bytes to the socket: the caller's back-pressure. */
export function sendAndWait(ws: WebSocket, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (ws.readyState !== ws.OPEN) return reject(new LodgeError('conflict', 'the client went away'));
    ws.send(data, { binary: typeof data !== 'string' }, (err) => (err ? reject(new LodgeError('conflict', `the client went away: ${err.message}`)) : resolve()));
  });
}

export function sendJson(ws: WebSocket, message: object): Promise<void> {
  return sendAndWait(ws, JSON.stringify(message));
}

/** Ends a guest WebSocket with an error message first, then close code 1011; a no-op once closed. */
export function closeWithError(ws: WebSocket, err: unknown): void {
  if (ws.readyState !== ws.OPEN) return;
  const error = LodgeError.from(err).toJSON();
  ws.send(JSON.stringify({ type: 'error', error }), () => ws.close(1011, error.code));
}

/** Parses a text message as JSON, or throws invalid_argument. */
export function jsonMessage(data: Buffer): unknown {
  try {
    return JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw new LodgeError('invalid_argument', `a text message is not valid JSON: ${(err as Error).message}`);
  }
}
