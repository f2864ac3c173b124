import type { FileEntry } from '@lodge/api/guest';
import { afterEach, describe, expect, it } from 'vitest';
import type { FilesSink, FilesSource } from '../ports/guest-channel.js';
import { FakeQgaServer, type FakeQgaOptions } from './fake-qga-server.js';
import { createQgaChannel, type QgaChannel } from './qga-channel.js';
import { FILE_CHUNK } from './qga-files.js';

const open: Array<FakeQgaServer | QgaChannel> = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await (x instanceof FakeQgaServer ? x.stop() : x.close());
});

async function setup(opts?: FakeQgaOptions): Promise<{ server: FakeQgaServer; ch: QgaChannel }> {
  const server = await FakeQgaServer.start(opts);
  const ch = createQgaChannel({ socketPath: server.path, retryMs: 20, probeTimeoutMs: 100 });
  open.push(server, ch);
  await ch.whenReady(2_000);
  return { server, ch };
}

function collect(): { s: FilesSink; entries: FileEntry[]; chunks: Buffer[] } {
  const entries: FileEntry[] = [];
  const chunks: Buffer[] = [];
  return { s: { entry: async (e) => void entries.push(e), data: async (c) => void chunks.push(c) }, entries, chunks };
}

async function* gen(items: Array<{ entry: FileEntry } | { data: Buffer }>) {
  yield* items;
}
const src = (items: Array<{ entry: FileEntry } | { data: Buffer }>): FilesSource => ({ [Symbol.asyncIterator]: () => gen(items) });
const fileEntry = (path: string, size: number, mode = 0o600): FileEntry => ({ path, kind: 'file', mode, size, mtimeMs: 0 });

describe('QGA getFiles', () => {
  it('reads a file in 48 KiB chunks with mode and mtime from stat', async () => {
    const { server, ch } = await setup();
    const content = Buffer.alloc(2 * FILE_CHUNK + 100, 7);
    server.guest.files.set('/root/big.bin', { data: content, mode: 0o640, mtimeMs: 1_600_000_000_000 });
    const { s, entries, chunks } = collect();
    expect(await ch.getFiles('/root/big.bin', s)).toEqual({ entries: 1, bytes: content.length });
    expect(entries).toEqual([{ path: 'big.bin', kind: 'file', mode: 0o640, size: content.length, mtimeMs: 1_600_000_000_000 }]);
    expect(chunks.map((c) => c.length)).toEqual([FILE_CHUNK, FILE_CHUNK, 100]);
    expect(Buffer.concat(chunks).equals(content)).toBe(true);
    const reads = server.received.filter((r) => r.execute === 'guest-file-read').map((r) => r.arguments?.count);
    expect(reads).toEqual([FILE_CHUNK, FILE_CHUNK, 100]);
    expect(server.commands()).toContain('guest-file-close');
  });

  it('copies an empty file and /proc files whose size is unknown up front', async () => {
    const { server, ch } = await setup();
    server.guest.files.set('/tmp/empty', { data: Buffer.alloc(0), mode: 0o644, mtimeMs: 0 });
    const a = collect();
    expect(await ch.getFiles('/tmp/empty', a.s)).toEqual({ entries: 1, bytes: 0 });
    expect(a.entries[0]).toMatchObject({ path: 'empty', size: 0 });
    const b = collect();
    expect(await ch.getFiles('/proc/uptime', b.s)).toEqual({ entries: 1, bytes: 14 });
    expect(b.entries[0]).toMatchObject({ path: 'uptime', size: 14 });
    expect(Buffer.concat(b.chunks).toString()).toBe('123.45 200.00\n');
  });

  it('refuses folders, with and without guest-exec', async () => {
    const { ch } = await setup();
    await expect(ch.getFiles('/tmp', collect().s)).rejects.toMatchObject({ code: 'invalid_argument', message: 'copying folders needs the Lodge agent' });
    await expect(ch.getFiles('/tmp/missing', collect().s)).rejects.toMatchObject({ code: 'not_found' });
    const bare = await setup({ disabled: ['guest-exec'] });
    const c = collect();
    await expect(bare.ch.getFiles('/tmp', c.s)).rejects.toThrow('copying folders needs the Lodge agent');
    expect(c.entries).toEqual([]); // no entry is announced for what turns out to be a folder
  });
});

describe('QGA putFiles', () => {
  it('writes in 48 KiB chunks, then applies the mode with chmod', async () => {
    const { server, ch } = await setup();
    const content = Buffer.alloc(FILE_CHUNK + 10, 1);
    const parts = [content.subarray(0, 1000), content.subarray(1000, 30_000), content.subarray(30_000)];
    const result = await ch.putFiles('/root/up.bin', src([{ entry: fileEntry('up.bin', content.length, 0o750) }, ...parts.map((data) => ({ data }))]));
    expect(result).toEqual({ entries: 1, bytes: content.length });
    const f = server.guest.files.get('/root/up.bin');
    expect(f?.data.equals(content)).toBe(true);
    expect(f?.mode).toBe(0o750);
    const writes = server.received.filter((r) => r.execute === 'guest-file-write').map((r) => r.arguments?.count);
    expect(writes).toEqual([FILE_CHUNK, 10]);
  });

  it('writes into an existing folder under the entry name', async () => {
    const { server, ch } = await setup();
    await ch.putFiles('/tmp', src([{ entry: fileEntry('a.txt', 3) }, { data: Buffer.from('abc') }]));
    expect(server.guest.files.get('/tmp/a.txt')?.data.toString()).toBe('abc');
  });

  it('refuses folders, symlinks and wrong sizes', async () => {
    const { ch } = await setup();
    const dir: FileEntry = { path: 'd', kind: 'dir', mode: 0o755, size: 0, mtimeMs: 0 };
    await expect(ch.putFiles('/tmp/d', src([{ entry: dir }]))).rejects.toThrow('copying folders needs the Lodge agent');
    await expect(ch.putFiles('/tmp/x', src([{ entry: { ...dir, kind: 'symlink', target: 'y' } }]))).rejects.toThrow(/symlinks needs the Lodge agent/);
    await expect(ch.putFiles('/tmp/x', src([{ entry: fileEntry('x', 5) }, { data: Buffer.from('abc') }]))).rejects.toThrow(/got 3 bytes/);
    await expect(ch.putFiles('/tmp/x', src([{ entry: fileEntry('x', 1) }, { data: Buffer.from('abc') }]))).rejects.toThrow(/more bytes/);
  });
});

describe('QGA readFile', () => {
  it('reads only the asked window with seek, and reports the size', async () => {
    const { server, ch } = await setup();
    const content = Buffer.from('0123456789'.repeat(20_000));
    server.guest.files.set('/run/lodge/provision.jsonl', { data: content, mode: 0o644, mtimeMs: 0 });
    const win = await ch.readFile('/run/lodge/provision.jsonl', { offset: 5, maxBytes: FILE_CHUNK + 10 });
    expect(win).toEqual({ data: content.subarray(5, 5 + FILE_CHUNK + 10), size: content.length });
    const reads = server.received.filter((r) => r.execute === 'guest-file-read').map((r) => r.arguments?.count);
    expect(reads).toEqual([FILE_CHUNK, 10]);
    expect((await ch.readFile('/run/lodge/provision.jsonl', { offset: content.length, maxBytes: 100 })).data.length).toBe(0);
    await expect(ch.readFile('/run/lodge/none', { offset: 0, maxBytes: 10 })).rejects.toMatchObject({ code: 'not_found' });
    expect(server.commands().filter((c) => c === 'guest-file-close')).toHaveLength(2);
  });
});
