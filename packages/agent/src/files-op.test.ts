import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Channel, type FileEntry, type Session } from '@lodge/api/guest';
import { run, startHarness, type Harness } from './test-harness.js';

let h: Harness;
let src: string;
const big = randomBytes(700_000);
beforeAll(async () => {
  h = await startHarness();
  src = `${h.dir}/tree`;
  mkdirSync(`${src}/sub/deeper`, { recursive: true });
  writeFileSync(`${src}/a.txt`, 'hello\n');
  chmodSync(`${src}/a.txt`, 0o640);
  writeFileSync(`${src}/sub/big.bin`, big);
  chmodSync(`${src}/sub/big.bin`, 0o755);
  writeFileSync(`${src}/sub/deeper/empty`, '');
  chmodSync(`${src}/sub/deeper/empty`, 0o600);
  symlinkSync('../a.txt', `${src}/sub/link`);
  chmodSync(`${src}/sub/deeper`, 0o555);
  utimesSync(`${src}/a.txt`, new Date(1_600_000_000_000), new Date(1_600_000_000_000));
});
afterAll(async () => {
  if (src) chmodSync(`${src}/sub/deeper`, 0o755);
  await h?.close();
});

interface Item { entry: FileEntry; data: Buffer }

async function get(path: string): Promise<{ items: Item[]; result?: unknown; error?: { code?: string; message: string } }> {
  const items: Item[] = [];
  const r = await run(h.host, { op: 'files.get', path }, undefined, (stream) => {
    stream.on('control', (m) => items.push({ entry: m as FileEntry, data: Buffer.alloc(0) }));
    stream.on('data', (_ch, chunk) => {
      const last = items[items.length - 1] as Item;
      last.data = Buffer.concat([last.data, chunk]);
    });
  });
  return { items, ...(r.result ? { result: r.result } : {}), ...(r.error ? { error: r.error } : {}) };
}

interface PutItem { entry: Omit<Partial<FileEntry>, 'kind'> & { path: string; kind: string }; data?: Buffer }

async function put(host: Session, path: string, items: PutItem[]): Promise<unknown> {
  const stream = host.open({ op: 'files.put', path });
  try {
    for (const { entry, data } of items) {
      stream.control({ type: 'entry', mode: 0o644, size: data?.length ?? 0, mtimeMs: Date.now(), ...entry });
      if (data && data.length > 0) await stream.write(Channel.Input, data);
    }
    stream.end(Channel.Input);
  } catch {
    // the agent refused mid-way: result() says why
  }
  return stream.result();
}

describe('files.get', () => {
  it('streams a folder tree: parents first, modes, sizes, a symlink, exact bytes', async () => {
    const { items, result } = await get(src);
    expect(items.map((i) => `${i.entry.kind} ${i.entry.path} ${i.entry.mode.toString(8)}`)).toEqual([
      'dir tree 755', 'file tree/a.txt 640', 'dir tree/sub 755', 'file tree/sub/big.bin 755',
      'dir tree/sub/deeper 555', 'file tree/sub/deeper/empty 600', 'symlink tree/sub/link 777',
    ]);
    expect(items[1]?.entry).toMatchObject({ size: 6, mtimeMs: 1_600_000_000_000 });
    expect(items[1]?.data.toString()).toBe('hello\n');
    expect(createHash('sha256').update(items[3]?.data ?? '').digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
    expect(items[6]?.entry.target).toBe('../a.txt');
    expect(result).toEqual({ entries: 7, bytes: 6 + big.length });
  });

  it("keeps each small file's bytes after its entry when the host's credit runs out mid-tree", async () => {
    // 2.4 MB of small files: more than the 1 MiB window, so some files' bytes wait for credit while the walk goes on.
    const many = `${h.dir}/many`;
    mkdirSync(many);
    const files = Array.from({ length: 600 }, (_, i) => ({ name: `f${String(i).padStart(3, '0')}`, data: randomBytes(1 + ((i * 7919) % 8000)) }));
    for (const f of files) writeFileSync(`${many}/${f.name}`, f.data);
    const { items, result } = await get(many);
    expect(items.map((i) => i.entry.path)).toEqual(['many', ...files.map((f) => `many/${f.name}`)]);
    items.slice(1).forEach((item, i) => expect(item.data.equals((files[i] as { data: Buffer }).data)).toBe(true));
    expect(result).toEqual({ entries: 601, bytes: files.reduce((n, f) => n + f.data.length, 0) });
  });

  it('answers not_found with the path', async () => {
    const { error } = await get(`${h.dir}/missing`);
    expect(error).toMatchObject({ code: 'not_found', message: expect.stringContaining(`${h.dir}/missing`) });
  });
});

describe('files.put', () => {
  it('copies a tree into an existing folder and under a new name, with modes, symlinks and mtimes', async () => {
    const { items } = await get(src);
    const into = `${h.dir}/into`;
    mkdirSync(into);
    const old = process.umask(0o077);
    try {
      expect(await put(h.host, into, items)).toEqual({ entries: 7, bytes: 6 + big.length });
      expect(await put(h.host, `${h.dir}/renamed`, items)).toEqual({ entries: 7, bytes: 6 + big.length });
    } finally {
      process.umask(old);
    }
    for (const root of [`${into}/tree`, `${h.dir}/renamed`]) {
      expect(readFileSync(`${root}/a.txt`, 'utf8')).toBe('hello\n');
      expect(lstatSync(`${root}/a.txt`).mode & 0o7777).toBe(0o640);
      expect(lstatSync(`${root}/a.txt`).mtimeMs).toBe(1_600_000_000_000);
      expect(readFileSync(`${root}/sub/big.bin`).equals(big)).toBe(true);
      expect(lstatSync(`${root}/sub/big.bin`).mode & 0o7777).toBe(0o755);
      expect(lstatSync(`${root}/sub/deeper`).mode & 0o7777).toBe(0o555);
      expect(lstatSync(`${root}/sub/deeper/empty`).mode & 0o7777).toBe(0o600);
      expect(readlinkSync(`${root}/sub/link`)).toBe('../a.txt');
      chmodSync(`${root}/sub/deeper`, 0o755);
    }
  });

  it('refuses paths that escape the destination', async () => {
    const dest = `${h.dir}/jail`;
    mkdirSync(dest);
    const outside = `${h.dir}/outside`;
    mkdirSync(outside);
    const attempts: PutItem[][] = [
      [{ entry: { path: '../x', kind: 'file' }, data: Buffer.from('x') }],
      [{ entry: { path: `${outside}/x`, kind: 'file' }, data: Buffer.from('x') }],
      [{ entry: { path: 't', kind: 'dir' } }, { entry: { path: 't/../../x', kind: 'file' }, data: Buffer.from('x') }],
      [{ entry: { path: 't', kind: 'dir' } }, { entry: { path: 't//x', kind: 'file' } }],
      [{ entry: { path: 't', kind: 'dir' } }, { entry: { path: 't/./x', kind: 'file' } }],
      [{ entry: { path: 't', kind: 'dir' } }, { entry: { path: 'u/x', kind: 'file' } }],
      [
        { entry: { path: 't', kind: 'dir' } },
        { entry: { path: 't/l', kind: 'symlink', target: outside } },
        { entry: { path: 't/l/evil', kind: 'file' }, data: Buffer.from('evil') },
      ],
    ];
    for (const items of attempts) {
      await expect(put(h.host, dest, items), JSON.stringify(items.map((i) => i.entry.path))).rejects.toMatchObject({ code: 'invalid_argument' });
    }
    expect(existsSync(`${h.dir}/x`)).toBe(false);
    expect(existsSync(`${outside}/x`)).toBe(false);
    expect(existsSync(`${outside}/evil`)).toBe(false);
  });

  it('replaces an existing symlink instead of writing through it', async () => {
    const dest = `${h.dir}/replace`;
    mkdirSync(`${dest}/t`, { recursive: true });
    writeFileSync(`${h.dir}/victim`, 'keep');
    symlinkSync(`${h.dir}/victim`, `${dest}/t/f`);
    await put(h.host, dest, [{ entry: { path: 't', kind: 'dir', mode: 0o755 } }, { entry: { path: 't/f', kind: 'file' }, data: Buffer.from('new') }]);
    expect(readFileSync(`${h.dir}/victim`, 'utf8')).toBe('keep');
    expect(readFileSync(`${dest}/t/f`, 'utf8')).toBe('new');
  });

  it('refuses more bytes than announced and a missing destination folder', async () => {
    await expect(put(h.host, `${h.dir}/over`, [{ entry: { path: 'f', kind: 'file', size: 2 }, data: Buffer.from('abc') }])).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(put(h.host, `${h.dir}/no/such/place`, [])).rejects.toMatchObject({ code: 'not_found' });
  });
});
