import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { API, LodgeError } from '@lodge/api';
import type { Services } from '../core/services.js';
import { serveBus } from './bus-socket.js';
import { toApiError } from './error-response.js';
import { serveExec } from './exec-socket.js';
import { serveFiles } from './files-socket.js';

/** A subscriber this far behind is cut off rather than buffered without bound. */
const MAX_BUFFERED = 8 * 2 ** 20;
const VM_PATH = /^\/v1\/vms\/([^/]+)\/(console|exec|files|bus)(?:\/([^/]+))?$/;

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

type Accept = (serve: (ws: WebSocket) => void) => void;

/** Checks what can be checked before the upgrade (so refusals are plain HTTP errors), then serves the VM's socket. */
async function serveVm(s: Services, url: URL, m: RegExpExecArray, local: boolean, accept: Accept): Promise<void> {
  const vm = decodeURIComponent(m[1] ?? '');
  const kind = m[2];
  const topic = m[3] === undefined ? undefined : decodeURIComponent(m[3]);
  if ((kind === 'bus') !== (topic !== undefined)) throw new LodgeError('not_found', `no WebSocket route ${url.pathname}`);
  switch (kind) {
    case 'console': {
      const con = await s.vms.console(vm);
      return accept((ws) => pipeConsole(ws, con));
    }
    case 'exec': {
      const keep = flagParam(url, 'keep', 'run more processes on the socket');
      await s.guest.reachable(vm);
      return accept((ws) => serveExec(ws, s.guest, vm, keep));
    }
    case 'files': {
      const op = url.searchParams.get('op');
      const path = url.searchParams.get('path') ?? '';
      if (op !== 'get' && op !== 'put') throw new LodgeError('invalid_argument', `op must be get or put, not ${JSON.stringify(op)}`);
      if (path === '' || path.length > 4096 || path.includes('\0')) throw new LodgeError('invalid_argument', 'path must be a guest path of 1 to 4096 characters');
      const lend = flagParam(url, 'lend', 'the client lends its files');
      if (lend && !local) throw new LodgeError('invalid_argument', "only a client on lodged's unix socket can lend files", { hint: 'leave out lend=1' });
      await s.guest.reachable(vm);
      return accept((ws) => serveFiles(ws, s.guest, { vm, op, path, local, lend }));
    }
    default: {
      s.guest.assertSubscribable(vm, topic ?? '');
      return accept((ws) => serveBus(ws, s.guest, { vm, topic: topic ?? '' }));
    }
  }
}

/** A 0/1 query flag (absent: 0); `meaning` says what 1 asks for, in the error for anything else. */
function flagParam(url: URL, name: string, meaning: string): boolean {
  const value = url.searchParams.get(name) ?? '0';
  if (value !== '0' && value !== '1') throw new LodgeError('invalid_argument', `${name} must be 1 (${meaning}) or 0, not ${JSON.stringify(value)}`);
  return value === '1';
}

/** WebSocket routes: the event stream, the serial console, and the guest (exec, files, message bus). */
export function attachWebSockets(server: Server, s: Services): WebSocketServer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 2 ** 20 });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://lodge');
    if (url.pathname === API.events) {
      wss.handleUpgrade(req, socket, head, (ws) => streamEvents(ws, s, url));
      return;
    }
    const m = VM_PATH.exec(url.pathname);
    if (!m) return refuse(socket, new LodgeError('not_found', `no WebSocket route ${url.pathname}`));
    // A unix socket (lodged's 0600 one) means a client of lodged's own user on its host: it may lend open files.
    const local = typeof server.address() === 'string';
    serveVm(s, url, m, local, (serve) => wss.handleUpgrade(req, socket, head, serve)).catch((err: unknown) => refuse(socket, err));
  });
  return wss;
}
