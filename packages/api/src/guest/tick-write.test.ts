import { describe, expect, it } from 'vitest';
import { writeInTick, type CorkableStream } from './tick-write.js';

/** A stream as Node's Writable behaves for writeInTick: corked writes go out together at uncork (one writev),
 * callbacks run once written; write() answers false once more than `highWaterMark` bytes were handed to it. */
class Recorder implements CorkableStream {
  writableCorked = 0;
  readonly writes: Buffer[][] = [];
  handed = 0;
  private held: { bytes: Buffer; cb?: (err?: Error | null) => void }[] = [];
  constructor(private readonly highWaterMark = Infinity) {}
  cork(): void {
    this.writableCorked++;
  }
  uncork(): void {
    if (this.writableCorked > 0 && --this.writableCorked === 0) this.flush();
  }
  write(bytes: Buffer, cb?: (err?: Error | null) => void): boolean {
    this.held.push({ bytes, cb });
    this.handed += bytes.length;
    if (this.writableCorked === 0) this.flush();
    return this.handed < this.highWaterMark;
  }
  get writableLength(): number {
    return this.held.reduce((n, h) => n + h.bytes.length, 0);
  }
  private flush(): void {
    const held = this.held;
    this.held = [];
    this.writes.push(held.map((h) => h.bytes));
    setImmediate(() => held.forEach((h) => h.cb?.()));
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('writeInTick', () => {
  it('sends a tick in one writev, small writes copied together, big ones as they are, in order', async () => {
    const stream = new Recorder();
    const { writes } = stream;
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
    const stream = new Recorder();
    const done: string[] = [];
    writeInTick(stream, Buffer.from('x'), () => done.push('x'));
    writeInTick(stream, Buffer.from('y'), () => done.push('y'));
    writeInTick(stream, Buffer.alloc(20_000), () => done.push('big'));
    expect(done).toEqual([]);
    await tick();
    await tick();
    expect(done.sort()).toEqual(['big', 'x', 'y']);
  });

  it('hands merged bytes over at 64 KiB and passes on the stream\'s back-pressure', () => {
    const stream = new Recorder(32 * 1024);
    const piece = Buffer.alloc(8 * 1024);
    const answers: boolean[] = [];
    for (let i = 0; i < 8; i++) answers.push(writeInTick(stream, piece));
    expect(answers.slice(0, 7)).toEqual([true, true, true, true, true, true, true]);
    expect(stream.handed).toBe(64 * 1024);
    expect(answers[7]).toBe(false); // 64 KiB handed over, above the stream's 32 KiB mark: the caller waits for drain
  });

  it('still hands small writes over by the end of the tick when someone else corked the stream', async () => {
    const stream = new Recorder();
    const { writes } = stream;
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
