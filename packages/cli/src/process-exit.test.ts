import { createServer, connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { flushed } from './process-exit.js';

describe('flushed', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => cleanups.splice(0).forEach((c) => c()));

  /** A socket whose reader does not read until told to: writes queue on our side, as on a full pipe. */
  async function slowReader(): Promise<{ writer: Socket; read: () => Promise<number> }> {
    const dir = mkdtempSync(join(tmpdir(), 'lodge-flush-'));
    let peer!: Socket;
    const server = createServer((s) => void ((peer = s), s.pause()));
    await new Promise<void>((r) => server.listen(join(dir, 's'), r));
    const writer = connect(join(dir, 's'));
    await new Promise((r) => writer.once('connect', r));
    while (!peer) await new Promise((r) => setTimeout(r, 5));
    cleanups.push(() => (writer.destroy(), peer.destroy(), server.close(), rmSync(dir, { recursive: true, force: true })));
    const read = (): Promise<number> => new Promise((resolve) => {
      let got = 0;
      peer.on('data', (c: Buffer) => (got += c.length)).on('end', () => resolve(got)).resume();
    });
    return { writer, read };
  }

  it('waits until what was queued is written, not just handed to the stream', async () => {
    const { writer, read } = await slowReader();
    writer.write(Buffer.alloc(8 * 2 ** 20)); // more than the socket buffers take: the rest queues in the stream
    expect(writer.writableLength).toBeGreaterThan(0);
    let done = false;
    const flush = flushed(writer).then(() => void (done = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(done).toBe(false); // nothing read yet: exiting now would lose the queue
    const got = read();
    await flush;
    expect(writer.writableLength).toBe(0);
    writer.end();
    expect(await got).toBe(8 * 2 ** 20);
  });

  it('resolves at once when nothing is queued', async () => {
    const { writer } = await slowReader();
    await flushed(writer);
    expect(writer.writableLength).toBe(0);
  });
});
