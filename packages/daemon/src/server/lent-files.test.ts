import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { AgentState, LentFile, LodgeEventBody } from '@lodge/api';
import type { FileEntry } from '@lodge/api/guest';
import type { FilesSink, FilesSource, GuestChannel } from '../ports/guest-channel.js';
import { EventBus } from '../core/event-bus.js';
import { GuestService, type GuestServiceDeps } from '../core/guest-service.js';
import type { Services } from '../core/services.js';
import { listenApi } from './api-server.js';

const BIG = randomBytes(1_500_000); // over LEND_MIN_BYTES
const entryOf = (path: string, size: number): FileEntry => ({ path, kind: 'file', mode: 0o640, size, mtimeMs: 0 });

/** A guest that hands out `big` then `small` (get) and keeps what it is given (put), in 256 KiB chunks. */
function fakeGuest(): Partial<GuestChannel> & { put: { entries: FileEntry[]; bytes: Buffer[] } } {
  const put = { entries: [] as FileEntry[], bytes: [] as Buffer[] };
  return {
    via: 'lodge-agent',
    state: 'ready' as AgentState,
    onState: () => () => undefined,
    onPublish: () => undefined,
    whenReady: async () => undefined,
    close: () => undefined,
    put,
    async getFiles(_path: string, sink: FilesSink) {
      // As agentGetFiles does: calls without waiting for the last one; all settle before the result.
      const calls = [sink.entry(entryOf('big', BIG.length))];
      for (let at = 0; at < BIG.length; at += 262_144) calls.push(sink.data(BIG.subarray(at, at + 262_144)));
      calls.push(sink.entry(entryOf('small', 5)), sink.data(Buffer.from('small')));
      await Promise.all(calls);
      return { entries: 2, bytes: BIG.length + 5 };
    },
    async putFiles(_path: string, source: FilesSource) {
      for await (const item of source) 'entry' in item ? put.entries.push(item.entry) : put.bytes.push(item.data);
      return { entries: put.entries.length, bytes: Buffer.concat(put.bytes).length };
    },
  };
}

type Got = { text: { type: string; [k: string]: unknown }[]; binary: Buffer[]; closed: Promise<number> };
function connect(sock: string, path: string, onText?: (m: Got['text'][number], ws: WebSocket) => void): Promise<{ ws: WebSocket; got: Got }> {
  const ws = new WebSocket(`ws+unix://${sock}:${path}`);
  const got: Got = { text: [], binary: [], closed: new Promise((r) => ws.on('close', (code) => r(code))) };
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (binary) return void got.binary.push(data);
    const m = JSON.parse(data.toString()) as Got['text'][number];
    got.text.push(m);
    onText?.(m, ws);
  });
  return new Promise((resolve, reject) => {
    ws.on('open', () => resolve({ ws, got }));
    ws.on('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.on('error', reject);
  });
}

async function lentOf(fh: FileHandle, wrongInode = false): Promise<LentFile> {
  const st = await fh.stat({ bigint: true });
  return { pid: process.pid, fd: fh.fd, dev: String(st.dev), ino: String(wrongInode ? st.ino + 1n : st.ino) };
}

describe('files lent by a client on the same host', () => {
  let dir: string;
  let sock: string;
  let api: { close(): Promise<void> };
  let guest: ReturnType<typeof fakeGuest>;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lodge-lent-'));
    sock = join(dir, 'api.sock');
    guest = fakeGuest();
    const events: LodgeEventBody[] = [];
    const bus = new EventBus({ append: (b) => (events.push(b), { ...b, id: events.length, time: '' }), since: () => [] });
    const records = { get: (name: string) => ({ name, state: 'running' }) as ReturnType<GuestServiceDeps['records']['get']> };
    const links = { lodgeAgent: () => guest as GuestChannel, qemuGuestAgent: () => undefined };
    const service = new GuestService({ links, records, events: bus, log: { info: () => undefined, warn: () => undefined } });
    service.attach('vm1');
    api = await listenApi({ guest: service, bus, vms: { get: () => ({}) } } as unknown as Services, sock);
  });
  afterEach(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('put: lodged reads a lent file itself, says opened, reports progress, and the guest gets every byte', async () => {
    await writeFile(join(dir, 'big'), BIG);
    const fh = await open(join(dir, 'big'), 'r');
    try {
      const { ws, got } = await connect(sock, '/v1/vms/vm1/files?op=put&path=%2Ftmp', (m, socket) => {
        // The client sends the next entry only once lodged has its own handle.
        if (m.type === 'opened') socket.send(JSON.stringify({ type: 'entry', ...entryOf('small', 2) })), socket.send(Buffer.from('ok')), socket.send(JSON.stringify({ type: 'end' }));
      });
      ws.send(JSON.stringify({ type: 'entry', ...entryOf('big', BIG.length), lent: await lentOf(fh) }));
      expect(await got.closed).toBe(1000);
      expect(got.text[0]).toEqual({ type: 'opened', path: 'big' });
      const progress = got.text.filter((m) => m.type === 'progress').map((m) => m.bytes);
      expect(progress.at(-1)).toBe(BIG.length);
      expect(got.text.at(-1)).toEqual({ type: 'done', entries: 2, bytes: BIG.length + 2 });
      expect(guest.put.entries.map((e) => e.path)).toEqual(['big', 'small']);
      expect(Buffer.concat(guest.put.bytes).equals(Buffer.concat([BIG, Buffer.from('ok')]))).toBe(true);
    } finally {
      await fh.close();
    }
  });

  it('put: a lent file whose inode is not the one named is refused before the guest sees its entry', async () => {
    await writeFile(join(dir, 'big'), BIG);
    const fh = await open(join(dir, 'big'), 'r');
    try {
      const { ws, got } = await connect(sock, '/v1/vms/vm1/files?op=put&path=%2Ftmp');
      ws.send(JSON.stringify({ type: 'entry', ...entryOf('big', BIG.length), lent: await lentOf(fh, true) }));
      expect(await got.closed).toBe(1011);
      expect(got.text).toEqual([{ type: 'error', error: expect.objectContaining({ code: 'invalid_argument', message: expect.stringMatching(/big through the client's open file \/proc\/\d+\/fd\/\d+: it is device \d+ inode \d+, not/) }) }]);
      expect(guest.put.entries).toEqual([]);
    } finally {
      await fh.close();
    }
  });

  it('put: a lent entry for a folder, or a malformed lent, is refused', async () => {
    const fh = await open(dir, 'r');
    try {
      const dirEntry = { type: 'entry', path: 'd', kind: 'dir', mode: 0o755, size: 0, mtimeMs: 0, lent: await lentOf(fh) };
      const first = await connect(sock, '/v1/vms/vm1/files?op=put&path=%2Ftmp');
      first.ws.send(JSON.stringify(dirEntry));
      expect(await first.got.closed).toBe(1011);
      expect(first.got.text[0]?.error).toMatchObject({ message: /only a file's entry can lend one/ });
      const second = await connect(sock, '/v1/vms/vm1/files?op=put&path=%2Ftmp');
      second.ws.send(JSON.stringify({ ...dirEntry, kind: 'file', lent: { pid: 1, fd: 0, dev: '-1', ino: '2' } }));
      expect(await second.got.closed).toBe(1011);
      expect(second.got.text[0]?.error).toMatchObject({ code: 'invalid_argument', message: /dev/ });
    } finally {
      await fh.close();
    }
  });

  it('get with lend=1: a big file is written into the file the client lends, a small one comes as bytes', async () => {
    const target = await open(join(dir, 'down'), 'w');
    try {
      const { got } = await connect(sock, '/v1/vms/vm1/files?op=get&path=%2Fx&lend=1', (m, ws) => {
        if (m.type === 'entry' && m.path === 'big') void lentOf(target).then((file) => ws.send(JSON.stringify({ type: 'lend', file })));
      });
      expect(await got.closed).toBe(1000);
      expect(got.text.map((m) => m.type).filter((t) => t !== 'progress')).toEqual(['entry', 'written', 'entry', 'done']);
      expect(got.text.filter((m) => m.type === 'progress').at(-1)?.bytes).toBe(BIG.length);
      expect(Buffer.concat(got.binary).toString()).toBe('small');
      expect((await readFile(join(dir, 'down'))).equals(BIG)).toBe(true);
    } finally {
      await target.close();
    }
  });

  it('get with lend=1: the client may answer send and take the bytes over the socket', async () => {
    const { got } = await connect(sock, '/v1/vms/vm1/files?op=get&path=%2Fx&lend=1', (m, ws) => {
      if (m.type === 'entry' && m.path === 'big') ws.send(JSON.stringify({ type: 'send' }));
    });
    expect(await got.closed).toBe(1000);
    expect(got.text.map((m) => m.type)).toEqual(['entry', 'entry', 'done']);
    expect(Buffer.concat(got.binary).equals(Buffer.concat([BIG, Buffer.from('small')]))).toBe(true);
  });

  it('get: lend must be 0 or 1, and a lend nobody asked for ends the copy', async () => {
    await expect(connect(sock, '/v1/vms/vm1/files?op=get&path=%2Fx&lend=yes')).rejects.toThrow(/HTTP 400/);
    const { ws, got } = await connect(sock, '/v1/vms/vm1/files?op=get&path=%2Fx&lend=1', (m, socket) => {
      if (m.type === 'entry' && m.path === 'big') socket.send(JSON.stringify({ type: 'end' }));
    });
    expect(await got.closed).toBe(1011);
    expect(got.text.at(-1)).toMatchObject({ type: 'error', error: { message: /lend or send from the client, not end/ } });
    ws.terminate();
  });
});
