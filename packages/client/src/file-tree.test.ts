import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, utimes, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FileEntry } from '@lodge/api/guest';
import { LEND_MIN_BYTES, LodgeError } from '@lodge/api/lite';
import { CHUNK_BYTES, measureFileTree, readFileTree, type TreeReadOptions } from './file-tree-reader.js';
import { FileTreeWriter } from './file-tree-writer.js';

let tmp: string;
beforeEach(async () => void (tmp = await mkdtemp(join(tmpdir(), 'lodge-tree-'))));
afterEach(async () => {
  execFileSync('chmod', ['-R', 'u+rwx', tmp]); // read-only folders made by the tests
  await rm(tmp, { recursive: true, force: true });
});

const T = new Date('2024-03-01T12:00:00Z');
const entry = (path: string, kind: FileEntry['kind'] = 'dir', extra: Partial<FileEntry> = {}): FileEntry => ({ path, kind, mode: 0o755, size: 0, mtimeMs: T.getTime(), ...extra });

/** The reader's items flattened to entries and Buffers, which reads better in expectations. */
async function collect(root: string, opts: TreeReadOptions = {}): Promise<(FileEntry | Buffer)[]> {
  const items: (FileEntry | Buffer)[] = [];
  for await (const item of readFileTree(root, opts)) items.push('entry' in item ? item.entry : item.data);
  return items;
}

async function feed(writer: FileTreeWriter, items: (FileEntry | Buffer)[]): Promise<void> {
  for (const item of items) await (Buffer.isBuffer(item) ? writer.data(item) : writer.entry(item));
  await writer.finish();
}

/** proj/{ro/(read-only) with a file, big.bin (3 chunks), empty, run.sh 0750, link -> /etc} */
async function makeProject(): Promise<string> {
  const root = join(tmp, 'src', 'proj');
  await mkdir(join(root, 'ro'), { recursive: true });
  await writeFile(join(root, 'ro', 'inside.txt'), 'kept\n');
  await chmod(join(root, 'ro'), 0o555);
  await writeFile(join(root, 'big.bin'), Buffer.alloc(CHUNK_BYTES * 2 + 1000, 7));
  await writeFile(join(root, 'empty'), '');
  await writeFile(join(root, 'run.sh'), '#!/bin/sh\n', { mode: 0o750 });
  await chmod(join(root, 'run.sh'), 0o750);
  await symlink('/etc', join(root, 'link'));
  await utimes(join(root, 'run.sh'), T, T);
  return root;
}

describe('readFileTree', () => {
  it('sends parents first, names relative to the named folder, bytes after each file in 256 KiB chunks', async () => {
    const root = await makeProject();
    const items = await collect(root);
    const entries = items.filter((i): i is FileEntry => !Buffer.isBuffer(i));
    expect(entries.map((e) => e.path)).toEqual(['proj', 'proj/big.bin', 'proj/empty', 'proj/link', 'proj/ro', 'proj/ro/inside.txt', 'proj/run.sh']);
    const big = items.findIndex((i) => !Buffer.isBuffer(i) && i.path === 'proj/big.bin');
    expect(items.slice(big + 1, big + 4).map((b) => (b as Buffer).length)).toEqual([CHUNK_BYTES, CHUNK_BYTES, 1000]);
    expect(entries.find((e) => e.path === 'proj/link')).toMatchObject({ kind: 'symlink', target: '/etc', size: 0 });
    expect(entries.find((e) => e.path === 'proj/ro')).toMatchObject({ kind: 'dir', mode: 0o555 });
    expect(entries.find((e) => e.path === 'proj/run.sh')).toMatchObject({ kind: 'file', mode: 0o750, size: 10, mtimeMs: T.getTime() });
    expect(await measureFileTree(root)).toEqual({ entries: 7, files: 4, bytes: CHUNK_BYTES * 2 + 1000 + 5 + 10 });
  });

  it('never follows a symlink, at the top or below, and skips special files', async () => {
    await mkdir(join(tmp, 'd'));
    await symlink(join(tmp, 'outside'), join(tmp, 'd', 'out'));
    await mkdir(join(tmp, 'outside'));
    await writeFile(join(tmp, 'outside', 'secret'), 'no');
    execFileSync('mkfifo', [join(tmp, 'd', 'fifo')]);
    const skipped: string[] = [];
    const items = await collect(join(tmp, 'd'), { onSkip: (p, what) => skipped.push(`${what} ${p}`) });
    expect(items.map((i) => (Buffer.isBuffer(i) ? 'bytes' : i.path))).toEqual(['d', 'd/out']);
    expect(skipped).toEqual([`FIFO ${join(tmp, 'd', 'fifo')}`]);
    expect(await collect(join(tmp, 'd', 'out'))).toEqual([expect.objectContaining({ path: 'out', kind: 'symlink' })]);
  });

  it('names a missing path', async () => {
    await expect(collect(join(tmp, 'nope'))).rejects.toMatchObject({ code: 'not_found', message: expect.stringContaining('nope') });
  });
});

describe('FileTreeWriter', () => {
  it('recreates a tree under a new name, with modes, mtimes, symlinks and a read-only folder filled', async () => {
    const items = await collect(await makeProject());
    await mkdir(join(tmp, 'out'));
    const writer = new FileTreeWriter(join(tmp, 'out', 'copy'));
    await feed(writer, items);
    const copy = join(tmp, 'out', 'copy');
    expect((await readdir(copy)).sort()).toEqual(['big.bin', 'empty', 'link', 'ro', 'run.sh']);
    expect((await readFile(join(copy, 'big.bin'))).equals(Buffer.alloc(CHUNK_BYTES * 2 + 1000, 7))).toBe(true);
    expect(await readlink(join(copy, 'link'))).toBe('/etc');
    expect((await stat(join(copy, 'ro'))).mode & 0o7777).toBe(0o555);
    expect(await readFile(join(copy, 'ro', 'inside.txt'), 'utf8')).toBe('kept\n');
    const run = await stat(join(copy, 'run.sh'));
    expect([run.mode & 0o7777, run.mtimeMs]).toEqual([0o750, T.getTime()]);
    expect({ entries: writer.entries, files: writer.files, bytes: writer.bytes }).toEqual({ entries: 7, files: 4, bytes: CHUNK_BYTES * 2 + 1015 });
  });

  it('writes inside an existing folder, keeping the top name (cp -r)', async () => {
    await mkdir(join(tmp, 'out', 'proj'), { recursive: true });
    const tree = (): (FileEntry | Buffer)[] => [entry('proj'), entry('proj/a.txt', 'file', { size: 2 }), Buffer.from('hi')];
    await feed(new FileTreeWriter(join(tmp, 'out', 'proj')), tree());
    expect(await readFile(join(tmp, 'out', 'proj', 'proj', 'a.txt'), 'utf8')).toBe('hi');
    await feed(new FileTreeWriter(join(tmp, 'out')), tree()); // merges into the existing out/proj
    expect(await readFile(join(tmp, 'out', 'proj', 'a.txt'), 'utf8')).toBe('hi');
  });

  it('copies a single file onto a new name, dropping set-id bits', async () => {
    await feed(new FileTreeWriter(join(tmp, 'renamed')), [entry('orig', 'file', { size: 3, mode: 0o4755 }), Buffer.from('abc')]);
    expect(await readFile(join(tmp, 'renamed'), 'utf8')).toBe('abc');
    expect((await stat(join(tmp, 'renamed'))).mode & 0o7777).toBe(0o755);
  });

  it('lends files of LEND_MIN_BYTES or more: the reader holds each one open until asked for the next item', async () => {
    const root = join(tmp, 'lend');
    await mkdir(root);
    await writeFile(join(root, 'big'), Buffer.alloc(LEND_MIN_BYTES, 1));
    await writeFile(join(root, 'small'), Buffer.alloc(LEND_MIN_BYTES - 1, 2));
    const items = readFileTree(root, { lend: true })[Symbol.asyncIterator]();
    expect((await items.next()).value).toMatchObject({ entry: { path: 'lend', kind: 'dir' } });
    const lent = (await items.next()).value as { entry: FileEntry; lent: { pid: number; fd: number; dev: string; ino: string } };
    const st = await stat(join(root, 'big'), { bigint: true });
    expect(lent.lent).toEqual({ pid: process.pid, fd: expect.any(Number), dev: String(st.dev), ino: String(st.ino) });
    expect(await readlink(`/proc/self/fd/${lent.lent.fd}`)).toBe(join(root, 'big'));
    const next = (await items.next()).value as { entry: FileEntry };
    expect(next).toEqual({ entry: expect.objectContaining({ path: 'lend/small' }) }); // no bytes for the lent one
    // Closed once the consumer moved on (the number may be small's now).
    expect(await readlink(`/proc/self/fd/${lent.lent.fd}`).catch(() => 'closed')).not.toBe(join(root, 'big'));
    expect(((await items.next()).value as { data: Buffer }).data.length).toBe(CHUNK_BYTES);
    await items.return?.(undefined);
  });

  it('lends the file it opened to lodged, and closes it with its mode once lodged wrote it', async () => {
    const writer = new FileTreeWriter(join(tmp, 'got'));
    expect(writer.lend()).toBeUndefined(); // nothing open yet
    await writer.entry(entry('f', 'file', { size: 4, mode: 0o640 }));
    const lent = writer.lend();
    expect(lent?.pid).toBe(process.pid);
    expect(writer.lend()).toBeUndefined(); // lent once
    expect(() => writer.data(Buffer.from('x'))).toThrow(/lent to lodged/);
    await writeFile(`/proc/self/fd/${lent?.fd}`, 'abcd'); // as lodged does through /proc
    await expect(writer.written('g')).rejects.toThrow(/not lent/);
    await writer.written('f');
    expect(await writer.finish()).toEqual({ entries: 1, files: 1, bytes: 4 });
    expect(await readFile(join(tmp, 'got'), 'utf8')).toBe('abcd');
    expect((await stat(join(tmp, 'got'))).mode & 0o777).toBe(0o640);
  });

  describe('refuses paths that would leave the destination', () => {
    const cases: [string, (FileEntry | Buffer)[]][] = [
      ['../evil', [entry('../evil', 'file', { size: 1 }), Buffer.from('x')]],
      ['/etc/evil', [entry('/etc/evil', 'file', { size: 1 }), Buffer.from('x')]],
      ['a/../../evil', [entry('a'), entry('a/../../evil', 'file', { size: 1 }), Buffer.from('x')]],
      ['a/./b', [entry('a'), entry('a/./b')]],
      ['a//b', [entry('a'), entry('a//b')]],
      ['NUL', [entry('a'), entry('a/b\0c', 'file')]],
      ['second top', [entry('a'), entry('b', 'file')]],
      ['other top', [entry('a'), entry('b/c', 'file')]],
      ['child first', [entry('a/b', 'file')]],
      ['a/l/evil via symlink', [entry('a'), entry('a/l', 'symlink', { target: '' }), entry('a/l/evil', 'file', { size: 1 }), Buffer.from('x')]],
    ];
    for (const [name, items] of cases) {
      it(name, async () => {
        const outside = join(tmp, 'outside');
        await mkdir(outside);
        const link = items.find((i): i is FileEntry => !Buffer.isBuffer(i) && i.kind === 'symlink');
        if (link) link.target = outside;
        await mkdir(join(tmp, 'dest', 'deep'), { recursive: true });
        const err: unknown = await feed(new FileTreeWriter(join(tmp, 'dest', 'deep')), items).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(LodgeError);
        expect(err).toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/^refusing entry /) });
        expect(await readdir(outside)).toEqual([]);
        expect((await readdir(tmp)).sort()).toEqual(['dest', 'outside']);
        expect(await readdir(join(tmp, 'dest'))).toEqual(['deep']);
        await expect(lstat('/etc/evil')).rejects.toThrow();
      });
    }
  });

  it('answers a destination below a regular file with a LodgeError, not a bare errno', async () => {
    await writeFile(join(tmp, 'afile'), 'x');
    const writer = new FileTreeWriter(join(tmp, 'afile', 'sub'));
    await expect(writer.entry(entry('top'))).rejects.toThrow(LodgeError);
    await expect(new FileTreeWriter(join(tmp, 'afile', 'sub')).entry(entry('top'))).rejects.toThrow(/cannot create the folder .*afile\/sub: not a folder/);
    const nested = new FileTreeWriter(join(tmp, 'dest'));
    await nested.entry(entry('top'));
    await writeFile(join(tmp, 'dest', 'blocker'), 'x');
    await expect(nested.entry(entry('top/blocker/f', 'file', { size: 1 }))).rejects.toThrow(/dest\/blocker is not a folder/);
  });

  it('refuses to write a file through an existing symlink', async () => {
    await mkdir(join(tmp, 'dest', 'a'), { recursive: true });
    await writeFile(join(tmp, 'target'), 'keep');
    await symlink(join(tmp, 'target'), join(tmp, 'dest', 'a', 'f'));
    const err = await feed(new FileTreeWriter(join(tmp, 'dest')), [entry('a'), entry('a/f', 'file', { size: 1 }), Buffer.from('x')]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('"a/f"') });
    expect(await readFile(join(tmp, 'target'), 'utf8')).toBe('keep');
  });

  it('holds each file to its announced size', async () => {
    const short = new FileTreeWriter(join(tmp, 's'));
    await expect(feed(short, [entry('s'), entry('s/f', 'file', { size: 5 }), Buffer.from('abc'), entry('s/g', 'file')])).rejects.toThrow(/got 3 bytes, its size is 5/);
    const long = new FileTreeWriter(join(tmp, 'l'));
    await expect(feed(long, [entry('f', 'file', { size: 2 }), Buffer.from('abc')])).rejects.toThrow(/more bytes arrived than its size 2/);
    const stray = new FileTreeWriter(join(tmp, 'x'));
    await expect(feed(stray, [entry('x'), Buffer.from('abc')])).rejects.toThrow(/without a file entry/);
    await expect(new FileTreeWriter(join(tmp, 'e')).finish()).rejects.toThrow(/no entries/);
    const truncated = new FileTreeWriter(join(tmp, 't'));
    await truncated.entry(entry('t', 'file', { size: 4 }));
    await expect(truncated.finish()).rejects.toThrow(/got 0 bytes, its size is 4/);
  });

  it('refuses malformed entries from the wire', async () => {
    const w = (): FileTreeWriter => new FileTreeWriter(join(tmp, 'm'));
    await expect(w().entry({ ...entry('m'), kind: 'fifo' } as unknown as FileEntry)).rejects.toThrow(/unknown kind/);
    await expect(w().entry({ ...entry('m', 'file'), size: -1 })).rejects.toThrow(/size/);
    await expect(w().entry(entry('m', 'symlink'))).rejects.toThrow(/no usable target/);
    await expect(w().entry({ path: 7 } as unknown as FileEntry)).rejects.toThrow(/not a string/);
  });
});
