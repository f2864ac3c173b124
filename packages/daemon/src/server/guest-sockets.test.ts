import { request as httpRequest } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import type { AgentState, ExecStart, LodgeEventBody } from '@lodge/api';
import type { BusDelivery, ExecSinks, FilesSink, GuestChannel, GuestExecution } from '../ports/guest-channel.js';
import { EventBus } from '../core/event-bus.js';
import { GuestService, type GuestServiceDeps } from '../core/guest-service.js';
import type { Services } from '../core/services.js';
import { listenApi } from './api-server.js';

/** A ready Lodge agent in memory: `echo` prints its arguments, `cat` echoes stdin until it ends. */
function fakeAgent(): GuestChannel & { publishes: BusDelivery[]; handler?: (m: BusDelivery) => Promise<number> } {
  const publishes: BusDelivery[] = [];
  const channel = {
    via: 'lodge-agent' as const,
    state: 'ready' as AgentState,
    version: '1.0.0',
    abilities: { streaming: true, bus: true, tty: true, folders: true, shutdown: true },
    publishes,
    handler: undefined as ((m: BusDelivery) => Promise<number>) | undefined,
    onState: () => () => undefined,
    whenReady: async () => undefined,
    exec(req: ExecStart, sinks: ExecSinks): GuestExecution {
      let end: () => void = () => undefined;
      const ended = new Promise<void>((r) => (end = r));
      setTimeout(() => {
        sinks.started?.(99);
        if (req.argv[0] === 'echo') sinks.output(1, Buffer.from(`${req.argv.slice(1).join(' ')}\n`), () => undefined);
        if (req.argv[0] === 'echo') end();
      }, 1);
      return {
        pid: Promise.resolve(99),
        writeStdin: async (chunk) => sinks.output(1, chunk, () => undefined),
        endStdin: () => end(),
        signal: () => undefined,
        resize: () => undefined,
        result: ended.then(() => ({ exitCode: 0, signal: null, timedOut: false })),
        cancel: () => undefined,
      };
    },
    info: async () => ({}) as never,
    setTime: async () => ({ offsetMs: 0 }),
    shutdown: async () => undefined,
    async getFiles(path: string, sink: FilesSink) {
      await sink.entry({ path: 'f', kind: 'file', mode: 0o644, size: 3, mtimeMs: 0 });
      await sink.data(Buffer.from(path.slice(0, 3)));
      return { entries: 1, bytes: 3 };
    },
    putFiles: async () => ({ entries: 0, bytes: 0 }),
    readFile: async () => ({ data: Buffer.alloc(0), size: 0 }),
    publish: async (m: BusDelivery) => (publishes.push(m), { delivered: 1 }),
    onPublish(h: (m: BusDelivery) => Promise<number>) {
      channel.handler = h;
    },
    close: () => undefined,
  };
  return channel;
}

type Received = { text: unknown[]; binary: string[]; close: Promise<number> };
function connect(sock: string, path: string, first?: object): Promise<{ ws: WebSocket; got: Received }> {
  const ws = new WebSocket(`ws+unix://${sock}:${path}`);
  const got: Received = { text: [], binary: [], close: new Promise((r) => ws.on('close', (code) => r(code))) };
  ws.on('message', (data: Buffer, binary: boolean) => (binary ? got.binary.push(data.toString('latin1')) : got.text.push(JSON.parse(data.toString()))));
  return new Promise((resolve, reject) => {
    ws.on('open', () => (first && ws.send(JSON.stringify(first)), resolve({ ws, got })));
    ws.on('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.on('error', reject);
  });
}

function post(sock: string, path: string, body: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath: sock, path, method: 'POST' }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('guest WebSockets and bus routes', () => {
  let dir: string;
  let sock: string;
  let api: { close(): Promise<void> };
  let agent: ReturnType<typeof fakeAgent>;
  let ready = true;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lodge-api-'));
    sock = join(dir, 'api.sock');
    agent = fakeAgent();
    ready = true;
    const events: LodgeEventBody[] = [];
    const bus = new EventBus({ append: (b) => (events.push(b), { ...b, id: events.length, time: '' }), since: () => [] });
    const records = { get: (name: string) => ({ name, state: 'running' }) as ReturnType<GuestServiceDeps['records']['get']> };
    const links = { lodgeAgent: () => Object.defineProperty(agent, 'state', { get: () => (ready ? 'ready' : 'connecting') }), qemuGuestAgent: () => undefined };
    const guest = new GuestService({ links, records, events: bus, log: { info: () => undefined, warn: () => undefined } });
    guest.attach('vm1');
    api = await listenApi({ guest, bus, vms: { get: () => ({}) } } as unknown as Services, sock);
  });
  afterEach(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('exec: started, [channel][bytes] output, exit, close 1000', async () => {
    const { got } = await connect(sock, '/v1/vms/vm1/exec', { argv: ['echo', 'hi'] });
    expect(await got.close).toBe(1000);
    expect(got.text).toEqual([{ type: 'started', pid: 99, via: 'lodge-agent' }, { type: 'exit', exitCode: 0, signal: null, timedOut: false }]);
    expect(got.binary).toEqual(['\x01hi\n']);
  });

  it('exec: stdin in order, then stdin-end', async () => {
    const { ws, got } = await connect(sock, '/v1/vms/vm1/exec', { argv: ['cat'], stdin: true });
    ws.send(Buffer.from('\x00abc', 'latin1'));
    ws.send(Buffer.from('\x00def', 'latin1'));
    ws.send(JSON.stringify({ type: 'stdin-end' }));
    expect(await got.close).toBe(1000);
    expect(got.binary).toEqual(['\x01abc', '\x01def']);
  });

  it('exec with keep=1: the socket stays open after an exit and runs the next start; late stdin of the last process is dropped', async () => {
    const { ws, got } = await connect(sock, '/v1/vms/vm1/exec?keep=1', { argv: ['echo', 'one'] });
    const exits = (n: number): Promise<void> => vi.waitFor(() => expect(got.text.filter((m) => (m as { type: string }).type === 'exit').length).toBe(n));
    await exits(1);
    ws.send(Buffer.from('\x00late', 'latin1')); // sent before the client saw the exit
    ws.send(JSON.stringify({ type: 'stdin-end' }));
    ws.send(JSON.stringify({ argv: ['cat'], stdin: true }));
    ws.send(Buffer.from('\x00two', 'latin1'));
    ws.send(JSON.stringify({ type: 'stdin-end' }));
    await exits(2);
    expect(ws.readyState).toBe(ws.OPEN);
    expect(got.binary).toEqual(['\x01one\n', '\x01two']);
    const exit = { type: 'exit', exitCode: 0, signal: null, timedOut: false };
    const started = { type: 'started', pid: 99, via: 'lodge-agent' };
    expect(got.text).toEqual([started, exit, started, exit]);
    ws.close(1000);
    expect(await got.close).toBe(1000);
    await expect(connect(sock, '/v1/vms/vm1/exec?keep=yes')).rejects.toThrow('HTTP 400');
  });

  it('exec: a bad request gets an error message and close 1011', async () => {
    const { got } = await connect(sock, '/v1/vms/vm1/exec', { argv: [], bogus: 1 });
    expect(await got.close).toBe(1011);
    expect(got.text[0]).toMatchObject({ type: 'error', error: { code: 'invalid_argument' } });
  });

  it('refuses the upgrade while the agent is not connected', async () => {
    ready = false;
    await expect(connect(sock, '/v1/vms/vm1/exec')).rejects.toThrow('HTTP 409');
  });

  it('files get: entries, bytes, done', async () => {
    const { got } = await connect(sock, `/v1/vms/vm1/files?op=get&path=${encodeURIComponent('xyz/f')}`);
    expect(await got.close).toBe(1000);
    expect(got.text).toEqual([{ type: 'entry', path: 'f', kind: 'file', mode: 0o644, size: 3, mtimeMs: 0 }, { type: 'done', entries: 1, bytes: 3 }]);
    expect(got.binary).toEqual(['xyz']);
  });

  it('bus: a WebSocket subscriber gets guest and host publishes; POST answers the receipt', async () => {
    const { ws, got } = await connect(sock, `/v1/vms/vm1/bus/${encodeURIComponent('app/news')}`);
    expect(await agent.handler?.({ topic: 'app/news', body: Buffer.from('from guest') })).toBe(1);
    const res = await post(sock, `/v1/vms/vm1/bus/${encodeURIComponent('app/news')}`, 'from host');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ delivered: 2 });
    expect(agent.publishes[0]?.body.toString()).toBe('from host');
    expect(got.text).toEqual([
      { topic: 'app/news', data: Buffer.from('from guest').toString('base64') },
      { topic: 'app/news', data: Buffer.from('from host').toString('base64') },
    ]);
    ws.close();
  });

  it('bus: request answers the raw reply with its topic header', async () => {
    agent.publish = async (m) => {
      setTimeout(() => void agent.handler?.({ topic: m.replyTo ?? '', body: Buffer.from('pong') }), 5);
      return { delivered: 1 };
    };
    const res = await post(sock, '/v1/vms/vm1/bus/ping?request=1&timeoutMs=2000', 'ping');
    expect(res.status).toBe(200);
    expect(res.body).toBe('pong');
    expect(String(res.headers['x-lodge-reply-topic'])).toMatch(/^_inbox\./);
  });
});
