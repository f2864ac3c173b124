import { describe, expect, it } from 'vitest';
import { FrameKind, HEADER_SIZE, MAX_PAYLOAD, type Frame } from './contract.js';
import { encodeFrame, encodeJsonFrame } from './frame.js';
import { FrameParser } from './frame-parser.js';

const LIMIT = HEADER_SIZE + MAX_PAYLOAD;

/** A small seeded PRNG (mulberry32): failures replay with the same seed. */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
  };
}

function randomBytes(next: (n: number) => number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = next(256);
  return out;
}

function recorder() {
  const frames: Frame[] = [];
  const errors: string[] = [];
  let garbage = 0;
  const parser = new FrameParser({
    frame: (f) => frames.push({ ...f, payload: Buffer.from(f.payload) }),
    garbage: (n) => (garbage += n),
    error: (reason) => errors.push(reason),
  });
  return { parser, frames, errors, garbage: () => garbage };
}

const hello = (n = 0) => encodeJsonFrame(FrameKind.Hello, 0, { protocol: 1, role: 'guest', session: n.toString(16).padStart(16, '0') });
const data = (stream: number, length: number, fill = 1) => encodeFrame({ kind: FrameKind.Data, flags: 1, stream, payload: Buffer.alloc(length, fill) });

describe('FrameParser', () => {
  const sequence = Buffer.concat([hello(), data(1, 0), data(3, 5, 9), encodeJsonFrame(FrameKind.Control, 3, { a: 1 }), data(5, 300, 2)]);
  const expected = (() => {
    const r = recorder();
    r.parser.push(sequence);
    return r.frames;
  })();

  it('parses a sequence whole', () => {
    expect(expected.map((f) => [f.kind, f.stream, f.payload.length])).toEqual([[1, 0, 58], [5, 1, 0], [5, 3, 5], [4, 3, 7], [5, 5, 300]]);
  });

  it('parses frames split at every byte boundary, and byte by byte', () => {
    for (let cut = 0; cut <= sequence.length; cut++) {
      const r = recorder();
      r.parser.push(sequence.subarray(0, cut));
      r.parser.push(sequence.subarray(cut));
      expect(r.frames, `cut at ${cut}`).toEqual(expected);
      expect(r.garbage()).toBe(0);
    }
    const r = recorder();
    for (let i = 0; i < sequence.length; i++) r.parser.push(sequence.subarray(i, i + 1));
    expect(r.frames).toEqual(expected);
  });

  it('hunts: skips garbage and non-Hello frames before a Hello, counting them', () => {
    const junk = Buffer.concat([Buffer.from('LGLG\x4c\x47\x01'), data(1, 10), Buffer.from([0x4c, 0x47, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0])]);
    const r = recorder();
    r.parser.push(Buffer.concat([junk, hello(), data(1, 3)]));
    expect(r.frames.map((f) => f.kind)).toEqual([FrameKind.Hello, FrameKind.Data]);
    expect(r.garbage()).toBe(junk.length);
  });

  it('goes back to hunting on a framing error in sync, and recovers at the next Hello', () => {
    for (const bad of [Buffer.from('garbage!garbage!'), encodeFrame({ kind: FrameKind.Data, stream: 1 }).fill(77, 2, 3)]) {
      const r = recorder();
      r.parser.push(Buffer.concat([hello(1), bad, data(1, 4), hello(2), data(3, 4)]));
      expect(r.errors).toHaveLength(1);
      expect(r.frames.map((f) => [f.kind, f.stream])).toEqual([[1, 0], [1, 0], [5, 3]]);
      expect(r.parser.hunting).toBe(false);
    }
  });

  it('rejects an oversize length without buffering the payload', () => {
    const r = recorder();
    r.parser.push(hello());
    const header = Buffer.from([0x4c, 0x47, 5, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
    r.parser.push(header);
    expect(r.errors[0]).toMatch(`length 4294967295 over ${MAX_PAYLOAD}`);
    expect(r.parser.hunting).toBe(true);
    r.parser.push(Buffer.alloc(1 << 20, 0x4c));
    expect(r.parser.buffered).toBeLessThanOrEqual(HEADER_SIZE);
  });

  it('resync() drops a partial frame', () => {
    const r = recorder();
    r.parser.push(Buffer.concat([hello(), data(1, 1000).subarray(0, 500)]));
    expect(r.parser.buffered).toBe(HEADER_SIZE + 1000);
    r.parser.resync();
    expect(r.parser.buffered).toBe(0);
    r.parser.push(Buffer.concat([data(1, 10), hello()]));
    expect(r.frames).toHaveLength(2);
  });

  it('parses chunks pushed from inside a handler after the current one, in order', () => {
    const seen: number[] = [];
    const parser: FrameParser = new FrameParser({
      frame: (f) => {
        seen.push(f.stream);
        if (f.stream === 1) parser.push(data(9, 1));
      },
    });
    parser.push(Buffer.concat([hello(), data(1, 1), data(3, 1)]));
    expect(seen).toEqual([0, 1, 3, 9]);
  });
});

describe('FrameParser with splitData', () => {
  // The same frames in random chunks: Data comes in pieces (views of the chunks, no copy) that join to each payload.
  it('hands on a Data frame split across chunks in pieces of the chunks, other frames whole, and resyncs cleanly', () => {
    const next = rng(0x5b1d);
    for (let round = 0; round < 200; round++) {
      const frames = [hello(round), data(1, 70_000, 3), encodeJsonFrame(FrameKind.Control, 1, { a: round }), data(2, 1 + next(300), 4), data(1, next(3), 5), data(3, MAX_PAYLOAD, 6)];
      const wire = Buffer.concat(frames);
      const got: Frame[] = [];
      const chunks: Buffer[] = [];
      const parser = new FrameParser({ frame: (f) => void got.push(f) }, { splitData: true });
      for (let at = 0; at < wire.length; ) {
        const n = Math.min(wire.length - at, 1 + next(100_000));
        chunks.push(Buffer.from(wire.subarray(at, at + n)));
        parser.push(chunks.at(-1) as Buffer);
        at += n;
      }
      expect(got.every((f) => f.kind !== FrameKind.Data || f.payload.length === 0 || chunks.some((c) => c.buffer === f.payload.buffer))).toBe(true);
      const joined = (stream: number) => Buffer.concat(got.filter((f) => f.kind === FrameKind.Data && f.stream === stream).map((f) => f.payload));
      expect(joined(1).equals(Buffer.concat([Buffer.alloc(70_000, 3), Buffer.alloc(frames[4]!.length - HEADER_SIZE, 5)]))).toBe(true);
      expect(joined(2).length).toBe(frames[3]!.length - HEADER_SIZE);
      expect(joined(3).equals(Buffer.alloc(MAX_PAYLOAD, 6))).toBe(true);
      expect(got.filter((f) => f.kind !== FrameKind.Data).map((f) => f.kind)).toEqual([FrameKind.Hello, FrameKind.Control]);
      expect(parser.buffered).toBe(0);
    }
    // Resync mid-piece: the rest of that frame is dropped as garbage and the next Hello is found.
    const garbage: number[] = [];
    const got: Frame[] = [];
    const parser = new FrameParser({ frame: (f) => void got.push(f), garbage: (n) => void garbage.push(n) }, { splitData: true });
    const big = data(1, 1000, 7);
    parser.push(Buffer.concat([hello(), big.subarray(0, 500)]));
    parser.resync('test');
    parser.push(Buffer.concat([big.subarray(500), hello(1)]));
    expect(got.map((f) => [f.kind, f.payload.length])).toEqual([[FrameKind.Hello, 58], [FrameKind.Data, 488], [FrameKind.Hello, 58]]);
    expect(garbage.reduce((a, b) => a + b, 0)).toBe(512);
  });
});

describe('FrameParser fuzz', () => {
  it('never throws nor holds more than one frame on 2,000 random buffers in random chunks', () => {
    const next = rng(0x5eed);
    for (let i = 0; i < 2000; i++) {
      const parts: Buffer[] = [];
      // Random bytes with plausible headers mixed in, so the parser also gets in sync and collects bodies.
      for (let p = next(6); p >= 0; p--) {
        const pick = next(4);
        if (pick === 0) parts.push(randomBytes(next, next(4096)));
        else if (pick === 1) parts.push(hello(next(1000)));
        else if (pick === 2) parts.push(Buffer.from([0x4c, 0x47, next(14), next(4), 0, 0, 0, next(9), 0, next(3), next(256), next(256)]));
        else parts.push(randomBytes(next, 12).fill(0x4c, 0, 1).fill(0x47, 1, 2));
      }
      const bytes = Buffer.concat(parts);
      const r = recorder();
      for (let pos = 0; pos < bytes.length; ) {
        const size = 1 + next(next(2) === 0 ? 16 : 20_000);
        r.parser.push(bytes.subarray(pos, pos + size));
        pos += size;
        expect(r.parser.buffered).toBeLessThanOrEqual(LIMIT);
      }
    }
  });

  it('recovers at the next Hello after random truncation and corruption of valid traffic', () => {
    const next = rng(42);
    for (let i = 0; i < 300; i++) {
      const frames = [hello(1)];
      for (let f = next(20); f >= 0; f--) frames.push(next(8) === 0 ? data(1 + 2 * next(5), next(MAX_PAYLOAD + 1)) : encodeJsonFrame(FrameKind.Control, 1, { i, f }));
      let bytes = Buffer.concat(frames);
      for (let c = 1 + next(4); c > 0; c--) {
        const at = next(bytes.length);
        const kind = next(3);
        if (kind === 0) bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + 1 + next(100)))]);
        else if (kind === 1) bytes[at] = next(256);
        else bytes = Buffer.concat([bytes.subarray(0, at), randomBytes(next, next(50)), bytes.subarray(at)]);
      }
      // What the sender's periodic Hello rides on: at most one frame's worth of bytes still pending is passed first.
      const trailer = Buffer.concat([Buffer.alloc(LIMIT + HEADER_SIZE), hello(0xabc), data(7, 3)]);
      const all = Buffer.concat([bytes, trailer]);
      const r = recorder();
      for (let pos = 0; pos < all.length; ) {
        const size = 1 + next(3000);
        expect(() => r.parser.push(all.subarray(pos, pos + size))).not.toThrow();
        pos += size;
        expect(r.parser.buffered).toBeLessThanOrEqual(LIMIT);
      }
      const tail = r.frames.slice(-2);
      expect(tail.map((f) => [f.kind, f.stream])).toEqual([[FrameKind.Hello, 0], [FrameKind.Data, 7]]);
      expect(tail[0]?.payload.toString()).toContain('0000000000000abc');
    }
  });
});
