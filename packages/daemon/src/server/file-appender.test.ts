import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileAppender } from './file-appender.js';

describe('FileAppender', () => {
  let dir = '';
  beforeEach(async () => void (dir = await mkdtemp(join(tmpdir(), 'appender-'))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('writes chunks queued together in few writes, in order, each settling once it is in the file', async () => {
    const fh = await open(join(dir, 'out'), 'w');
    const writes: number[] = [];
    const writev = fh.writev.bind(fh);
    fh.writev = ((buffers: readonly NodeJS.ArrayBufferView[], position?: number) => (writes.push(buffers.length), writev(buffers, position))) as typeof fh.writev;
    const appender = new FileAppender(fh);
    // As the guest's frames arrive: slivers where a frame was split, empty ones, and full chunks, 3 MiB in all.
    const chunks = Array.from({ length: 200 }, (_, i) => randomBytes(i % 10 === 0 ? 12 : i % 17 === 0 ? 0 : 16_384));
    const settled: number[] = [];
    await Promise.all(chunks.map((c, i) => appender.append(c).then(() => settled.push(i))));
    await fh.close();
    expect(await readFile(join(dir, 'out'))).toEqual(Buffer.concat(chunks));
    expect(settled).toEqual(chunks.map((_, i) => i));
    expect(writes.length).toBeGreaterThan(1); // a write holds at most 1 MiB: the rest returns credit sooner
    expect(writes.length).toBeLessThan(10);
  });

  it('fails the write that failed and every one after it with its error', async () => {
    await writeFile(join(dir, 'ro'), '');
    const fh = await open(join(dir, 'ro'), 'r'); // writes fail with EBADF
    const appender = new FileAppender(fh);
    const results = await Promise.allSettled([appender.append(Buffer.from('a')), appender.append(Buffer.from('b'))]);
    const later = await appender.append(Buffer.from('c')).then(() => 'written', (err: NodeJS.ErrnoException) => err.code);
    await fh.close();
    expect(results.map((r) => (r.status === 'rejected' ? (r.reason as NodeJS.ErrnoException).code : r.status))).toEqual(['EBADF', 'EBADF']);
    expect(later).toBe('EBADF');
  });
});
