import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, expect, it } from 'vitest';
import { FdWriter } from './fd-writer.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function target(): { fd: number; path: string } {
  const dir = mkdtempSync(`${tmpdir()}/lodge-fd-writer-`);
  dirs.push(dir);
  const path = `${dir}/out`;
  return { fd: openSync(path, 'w'), path };
}

for (const sync of [false, true]) {
  it(`writes in order and calls back each buffer once it is written (${sync ? 'sync' : 'async'})`, async () => {
    const { fd, path } = target();
    const writer = new FdWriter({ fd, onDrain: () => undefined, onError: (e) => { throw e; } });
    writer.sync = sync;
    const order: number[] = [];
    const big = Buffer.alloc(100_000, 0x62); // split into 32 KiB iovecs: called back after its last piece
    writer.write(Buffer.from('a'), () => order.push(1));
    writer.write(big, () => order.push(2));
    writer.write(Buffer.from('c'));
    expect(order).toEqual([]); // nothing before the tick ends: frames of one tick go out together
    await new Promise((r) => setTimeout(r, 50));
    expect(order).toEqual([1, 2]);
    expect(readFileSync(path).toString()).toBe(`a${'b'.repeat(100_000)}c`);
    expect(writer.bytesOut).toBe(100_002);
  });
}

it('calls back what it drops, so no writer waits forever for a gone host', () => {
  const { fd } = target();
  const writer = new FdWriter({ fd, onDrain: () => undefined, onError: () => undefined });
  let called = 0;
  writer.write(Buffer.from('x'), () => called++);
  writer.discard();
  expect(called).toBe(1);
  writer.close();
  writer.write(Buffer.from('y'), () => called++);
  expect(called).toBe(2);
});
