import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { writeInTick } from './tick-write.js';

/** A Writable that records each writev (the chunks it was handed) and, with `hold`, finishes a write only when told. */
function recorder(highWaterMark = 16 * 1024 * 1024) {
  const writes: Buffer[][] = [];
  const stream = new Writable({
    highWaterMark,
    writev(chunks, done) {
      writes.push(chunks.map((c) => c.chunk as Buffer));
      setImmediate(done);
    },
    write(chunk: Buffer, _enc, done) {
      writes.push([chunk]);
      setImmediate(done);
    },
  });
  return { stream, writes };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('writeInTick', () => {
  it('sends a tick in one writev, small writes copied together, big ones as they are, in order', async () => {
    const { stream, writes } = recorder();
    const big = Buffer.alloc(20_000, 7);
    for (const b of [Buffer.from('a'), Buffer.from('bc'), big, Buffer.from('d'), Buffer.from('ef')]) writeInTick(stream, b);
    expect(writes).toEqual([]);
    await tick();
    expect(writes.length).toBe(1);
    expect(writes[0]?.map((c) => c.length)).toEqual([3, 20_000, 3]);
    expect(Buffer.concat(writes[0] ?? []).toString('latin1')).toBe(`abc${big.toString('latin1')}def`);
    expect(writes[0]?.[1]).toBe(big); // not copied
  });

  it('calls each write back once its bytes are written', async () => {
    const { stream } = recorder();
    const done: string[] = [];
    writeInTick(stream, Buffer.from('x'), () => done.push('x'));
    writeInTick(stream, Buffer.from('y'), () => done.push('y'));
    writeInTick(stream, Buffer.alloc(20_000), () => done.push('big'));
    expect(done).toEqual([]);
    await tick();
    await tick();
    expect(done.sort()).toEqual(['big', 'x', 'y']);
  });

  it('hands merged bytes over at 64 KiB and passes on the stream\'s back-pressure', async () => {
    const { stream } = recorder(32 * 1024);
    const piece = Buffer.alloc(8 * 1024);
    const answers: boolean[] = [];
    for (let i = 0; i < 8; i++) answers.push(writeInTick(stream, piece));
    expect(answers.slice(0, 7)).toEqual([true, true, true, true, true, true, true]);
    expect(answers[7]).toBe(false); // 64 KiB handed over, above the stream's 32 KiB mark
    const drained = new Promise((r) => stream.once('drain', r));
    await tick();
    await drained;
  });

  it('still hands small writes over by the end of the tick when someone else corked the stream', async () => {
    const { stream, writes } = recorder();
    stream.cork();
    writeInTick(stream, Buffer.from('abc'));
    expect(stream.writableLength).toBe(0);
    await new Promise((r) => process.nextTick(r));
    expect(stream.writableLength).toBe(3);
    stream.uncork();
    await tick();
    expect(Buffer.concat(writes.flat()).toString()).toBe('abc');
  });
});
