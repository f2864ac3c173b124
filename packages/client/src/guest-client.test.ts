import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { FileEntry } from '@lodge/api/guest';
import { LodgeError } from '@lodge/api/lite';
import { readFileTree } from './file-tree-reader.js';
import { FileTreeWriter } from './file-tree-writer.js';
import { LodgeClient } from './lodge-client.js';

type WsRoute = (ws: WebSocket, url: URL) => void;

/** A stand-in for lodged: WebSocket routes by path, one HTTP handler, on a unix socket. */
let tmp: string;
let server: Server;
let client: LodgeClient;
let wsRoutes: Record<string, WsRoute>;
let http: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'lodge-guest-'));
  wsRoutes = {};
  http = (_req, _body, res) => res.writeHead(404).end();
  const wss = new WebSocketServer({ noServer: true });
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => http(req, Buffer.concat(chunks), res));
  });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://lodge');
    const route = wsRoutes[url.pathname];
    if (!route) {
      const body = JSON.stringify({ error: { code: 'not_found', message: `no VM behind ${url.pathname}` } });
      socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => route(ws, url));
  });
  const socketPath = join(tmp, 'lodged.sock');
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  client = new LodgeClient({ socketPath });
});

afterEach(async () => {
  client.close(); // the exec sockets it keeps idle would hold server.close() for their 10 s
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(tmp, { recursive: true, force: true });
});

const text = (ws: WebSocket, msg: object): void => ws.send(JSON.stringify(msg));
const framed = (channel: number, data: string | Buffer): Buffer => Buffer.concat([Buffer.of(channel), Buffer.from(data)]);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('exec', () => {
  it('sends the start, relays stdin, stdout and stderr apart, and resolves with the exit', async () => {
    const seen: unknown[] = [];
    wsRoutes['/v1/vms/t1/exec'] = (ws) => {
      ws.on('message', (data: Buffer, isBinary) => {
        if (isBinary) return ws.send(framed(1, data.subarray(1)));
        const msg = JSON.parse(data.toString()) as { type?: string; argv?: string[] };
        seen.push(msg);
        if (msg.argv) return (text(ws, { type: 'started', pid: 42, via: 'lodge-agent' }), ws.send(framed(2, 'warn\n')));
        if (msg.type === 'stdin-end') text(ws, { type: 'exit', exitCode: 3, signal: null, timedOut: false });
      });
    };
    const out: string[] = [];
    const err: string[] = [];
    const session = await client.exec('t1', { argv: ['cat'], stdin: true }, { stdout: (c) => void out.push(c.toString()), stderr: (c) => void err.push(c.toString()) });
    await session.writeStdin(Buffer.from('hello '));
    await session.writeStdin(Buffer.from('world'));
    session.resize(30, 100);
    session.endStdin();
    expect(await session.result).toEqual({ exitCode: 3, signal: null, timedOut: false, via: 'lodge-agent', pid: 42 });
    expect(out.join('')).toBe('hello world');
    expect(err).toEqual(['warn\n']);
    expect(seen).toEqual([{ argv: ['cat'], stdin: true }, { type: 'resize', rows: 30, cols: 100 }, { type: 'stdin-end' }]);
    await session.writeStdin(Buffer.from('late')); // the process is over: dropped, no error
  });

  it('runs the next exec on the socket the last one left open, and opens another once that one closed', async () => {
    const sockets: WebSocket[] = [];
    const queries: (string | null)[] = [];
    wsRoutes['/v1/vms/t1/exec'] = (ws, url) => {
      sockets.push(ws);
      queries.push(url.searchParams.get('keep'));
      ws.on('message', (data: Buffer) => {
        const { argv } = JSON.parse(data.toString()) as { argv: string[] };
        ws.send(framed(1, `${argv.join(' ')} on socket ${sockets.indexOf(ws)}`));
        text(ws, { type: 'exit', exitCode: 0, signal: null, timedOut: false });
      });
    };
    const run = async (word: string): Promise<string> => {
      let out = '';
      const session = await client.exec('t1', { argv: [word] }, { stdout: (c) => void (out += c.toString()), stderr: () => undefined });
      await session.result;
      return out;
    };
    expect(await run('one')).toBe('one on socket 0');
    expect(await run('two')).toBe('two on socket 0');
    const closed = new Promise((r) => sockets[0]?.once('close', r));
    sockets[0]?.close(1000, 'idle');
    await closed;
    await sleep(20); // the client sees the close
    expect(await run('three')).toBe('three on socket 1');
    expect(queries).toEqual(['1', '1']);
    // Two at once need two sockets; both are kept after.
    expect(await Promise.all([run('a'), run('b')])).toEqual(['a on socket 1', 'b on socket 2']);
    expect(await run('c')).toMatch(/^c on socket [12]$/);
    expect(sockets).toHaveLength(3);
    client.close();
    await sleep(20);
    expect(sockets.every((ws) => ws.readyState === ws.CLOSED)).toBe(true);
  });

  it('turns an error message or a refused upgrade into a LodgeError', async () => {
    wsRoutes['/v1/vms/t1/exec'] = (ws) => ws.once('message', () => text(ws, { type: 'error', error: { code: 'invalid_state', message: 't1 is stopped', hint: 'lodge start t1' } }));
    const session = await client.exec('t1', { argv: ['true'] }, { stdout: () => undefined, stderr: () => undefined });
    await expect(session.result).rejects.toMatchObject({ code: 'invalid_state', message: 't1 is stopped', hint: 'lodge start t1' });
    await expect(client.exec('nope', { argv: ['true'] }, { stdout: () => undefined, stderr: () => undefined })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('rejects when lodged hangs up before the exit', async () => {
    wsRoutes['/v1/vms/t1/exec'] = (ws) => ws.once('message', () => ws.close(1011, 'agent gone'));
    const session = await client.exec('t1', { argv: ['true'] }, { stdout: () => undefined, stderr: () => undefined });
    await expect(session.result).rejects.toThrow(/agent gone/);
  });

  it('stops reading while the output sink is busy, and keeps the order', async () => {
    const chunk = Buffer.alloc(256 * 1024, 1);
    let serverBacklog = 0;
    let peer: WebSocket | undefined;
    wsRoutes['/v1/vms/t1/exec'] = (ws) => {
      peer = ws;
      ws.once('message', () => {
        for (let i = 0; i < 64; i++) ws.send(framed(1, chunk));
        text(ws, { type: 'exit', exitCode: 0, signal: null, timedOut: false });
      });
    };
    let received = 0;
    const session = await client.exec('t1', { argv: ['yes'] }, {
      stdout: async (c) => {
        if (received === 0) await sleep(200).then(() => (serverBacklog = peer?.bufferedAmount ?? 0));
        received += c.length;
      },
      stderr: () => undefined,
    });
    expect(await session.result).toMatchObject({ exitCode: 0 });
    expect(received).toBe(64 * chunk.length); // exit came after all output was handled
    expect(serverBacklog).toBeGreaterThan(4 * 2 ** 20); // the client did not slurp 16 MiB into memory
  });
});

describe('files', () => {
  it('get: writes what the daemon sends and refuses a path that escapes', async () => {
    const tree: (FileEntry | Buffer)[] = [
      { path: 'etc', kind: 'dir', mode: 0o755, size: 0, mtimeMs: 0 },
      { path: 'etc/hostname', kind: 'file', mode: 0o644, size: 3, mtimeMs: 0 },
      Buffer.from('vm\n'),
    ];
    wsRoutes['/v1/vms/t1/files'] = (ws, url) => {
      expect([url.searchParams.get('op'), url.searchParams.get('path')]).toEqual(['get', '/etc']);
      for (const item of tree) Buffer.isBuffer(item) ? ws.send(item) : text(ws, { type: 'entry', ...item });
      text(ws, { type: 'done', entries: 2, bytes: 3 });
    };
    const writer = new FileTreeWriter(join(tmp, 'got'));
    expect(await client.getFiles('t1', '/etc', writer)).toEqual({ entries: 2, bytes: 3 });
    await writer.finish();
    expect(await readFile(join(tmp, 'got', 'hostname'), 'utf8')).toBe('vm\n');

    tree.push({ path: 'etc/../../evil', kind: 'file', mode: 0o644, size: 0, mtimeMs: 0 });
    const evil = await client.getFiles('t1', '/etc', new FileTreeWriter(join(tmp, 'again'))).catch((e: unknown) => e);
    expect(evil).toBeInstanceOf(LodgeError);
    expect(evil).toMatchObject({ code: 'invalid_argument' });
  });

  it('put: sends entries, bytes and end; the daemon answers done or error', async () => {
    await mkdir(join(tmp, 'src', 'sub'), { recursive: true });
    await writeFile(join(tmp, 'src', 'sub', 'f.txt'), 'payload');
    const got: unknown[] = [];
    wsRoutes['/v1/vms/t1/files'] = (ws) => {
      ws.on('message', (data: Buffer, isBinary) => {
        const msg = isBinary ? data.toString() : (JSON.parse(data.toString()) as { type: string; path?: string });
        got.push(typeof msg === 'string' ? msg : (msg.path ?? msg.type));
        if (typeof msg !== 'string' && msg.type === 'end') text(ws, { type: 'done', entries: 3, bytes: 7 });
      });
    };
    expect(await client.putFiles('t1', '/root', readFileTree(join(tmp, 'src')))).toEqual({ entries: 3, bytes: 7 });
    expect(got).toEqual(['src', 'src/sub', 'src/sub/f.txt', 'payload', 'end']);
    const handMade = { async *[Symbol.asyncIterator]() { yield { entry: { path: 'x', kind: 'file' as const, mode: 0o600, size: 2, mtimeMs: 0 } }; yield { data: Buffer.from('hi') }; } };
    got.length = 0;
    await client.putFiles('t1', '/root', handMade);
    expect(got).toEqual(['x', 'hi', 'end']);

    wsRoutes['/v1/vms/t1/files'] = (ws) => ws.once('message', () => text(ws, { type: 'error', error: { code: 'invalid_argument', message: '/root: permission denied' } }));
    await expect(client.putFiles('t1', '/root', readFileTree(join(tmp, 'src')))).rejects.toMatchObject({ message: '/root: permission denied' });
  });
});

describe('bus', () => {
  it('publishes raw bodies, answers requests with the raw reply, and checks topics first', async () => {
    const posts: { url: string; type: string | undefined; body: string }[] = [];
    http = (req, body, res) => {
      posts.push({ url: req.url ?? '', type: req.headers['content-type'], body: body.toString() });
      if (req.url?.includes('request=1')) res.writeHead(200, { 'x-lodge-reply-topic': '_inbox.1' }).end(Buffer.from([0, 1, 2]));
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ delivered: 2 }));
    };
    expect(await client.publish('t1', 'app/ping', '{"n":1}')).toEqual({ delivered: 2 });
    expect(await client.request('t1', 'app/ask', Buffer.from('q'), 1500)).toEqual(Buffer.from([0, 1, 2]));
    expect(posts).toEqual([
      { url: '/v1/vms/t1/bus/app%2Fping', type: 'application/octet-stream', body: '{"n":1}' },
      { url: '/v1/vms/t1/bus/app%2Fask?request=1&timeoutMs=1500', type: 'application/octet-stream', body: 'q' },
    ]);
    await expect(client.publish('t1', '-bad topic', 'x')).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(client.publish('t1', 'big', Buffer.alloc(2 ** 20 + 1))).rejects.toMatchObject({ code: 'invalid_argument' });
    expect(posts).toHaveLength(2);
  });

  it('subscribes: decodes bodies in order until closed', async () => {
    wsRoutes['/v1/vms/t1/bus/news'] = (ws) => {
      text(ws, { topic: 'news', data: Buffer.from('one').toString('base64') });
      text(ws, { topic: 'news', replyTo: '_inbox.9', data: Buffer.from('two').toString('base64') });
    };
    const bodies: string[] = [];
    let done!: () => void;
    const two = new Promise<void>((r) => (done = r));
    const sub = await client.subscribe('t1', 'news', (msg, body) => {
      bodies.push(`${body.toString()}${msg.replyTo ? ` -> ${msg.replyTo}` : ''}`);
      if (bodies.length === 2) done();
    });
    await two;
    sub.close();
    await sub.closed;
    expect(bodies).toEqual(['one', 'two -> _inbox.9']);
  });
});
