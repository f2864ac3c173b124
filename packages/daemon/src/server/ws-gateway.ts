import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { API, LodgeError } from '@lodge/api';
import type { Services } from '../core/services.js';
import { toApiError } from './error-response.js';

/** A subscriber this far behind is cut off rather than buffered without bound. */
const MAX_BUFFERED = 8 * 2 ** 20;
const CONSOLE_PATH = /^\/v1\/vms\/([^/]+)\/console$/;

function refuse(socket: Duplex, err: unknown): void {
  const { status, body } = toApiError(err);
  const json = JSON.stringify(body);
  socket.end(`HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`);
}

function streamEvents(ws: WebSocket, s: Services, url: URL): void {
  const vm = url.searchParams.get('vm') ?? undefined;
  const since = url.searchParams.get('since');
  const send = (ev: { vm?: string; operation?: { target?: string } }): void => {
    if (vm && ev.vm !== vm && ev.operation?.target !== vm) return;
    if (ws.bufferedAmount > MAX_BUFFERED) return ws.close(1013, 'event consumer too slow');
    ws.send(JSON.stringify(ev));
  };
  const off = s.bus.subscribe(send);
  ws.on('close', off);
  if (since !== null) for (const ev of s.bus.replay(Number(since) || 0, vm)) send(ev);
}

function pipeConsole(ws: WebSocket, con: Duplex): void {
  con.on('data', (chunk: Buffer) => {
    ws.send(chunk);
    if (ws.bufferedAmount > MAX_BUFFERED) con.pause();
  });
  const drain = setInterval(() => ws.bufferedAmount < MAX_BUFFERED / 2 && con.resume(), 50);
  ws.on('message', (data: Buffer) => con.write(data));
  ws.on('close', () => (clearInterval(drain), con.destroy()));
  con.on('close', () => (clearInterval(drain), ws.close(1000, 'console closed')));
  con.on('error', () => ws.close(1011, 'console error'));
}

/** WebSocket routes: the event stream and the serial console. */
export function attachWebSockets(server: Server, s: Services): WebSocketServer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 2 ** 20 });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://lodge');
    if (url.pathname === API.events) {
      wss.handleUpgrade(req, socket, head, (ws) => streamEvents(ws, s, url));
      return;
    }
    const m = CONSOLE_PATH.exec(url.pathname);
    if (!m) return refuse(socket, new LodgeError('not_found', `no WebSocket route ${url.pathname}`));
    s.vms.console(decodeURIComponent(m[1] ?? '')).then(
      (con) => wss.handleUpgrade(req, socket, head, (ws) => pipeConsole(ws, con)),
      (err: unknown) => refuse(socket, err),
    );
  });
  return wss;
}
