import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import { errorFromBody } from './http-transport.js';

/**
 * Opens a WebSocket over the unix socket; a refused upgrade rejects with the daemon's error.
 * `onMessage` is attached before the socket can emit anything: messages arriving with the upgrade are not lost.
 * It also gets whether the message was binary, which the exec and files sockets need. `onSocket` gets the
 * connection itself (to unref one that waits idle).
 */
export function openWebSocket(
  socketPath: string,
  path: string,
  onMessage: (data: Buffer, isBinary: boolean) => void,
  onSocket?: (socket: Socket) => void,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    // A zero mask: ws then masks nothing (both ends skip it). Masking guards browsers' proxies, not a local unix
    // socket, and XOR-ing every uploaded byte in JS cost the CLI and lodged CPU on each side of `lodge cp`.
    const ws = new WebSocket(`ws+unix://${socketPath}:${path}`, { generateMask: (mask: Buffer) => void mask.fill(0) });
    ws.on('message', onMessage);
    if (onSocket) ws.once('upgrade', (res: IncomingMessage) => onSocket(res.socket as Socket));
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => reject(errorFromBody(res.statusCode ?? 500, Buffer.concat(chunks))));
    });
    ws.once('error', reject);
  });
}
