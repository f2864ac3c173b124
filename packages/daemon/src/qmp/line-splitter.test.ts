import { describe, expect, it } from 'vitest';
import { QmpError } from './errors.js';
import { LineSplitter } from './line-splitter.js';

// Deterministic PRNG so a failing fuzz case can be replayed from its seed.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

function chop(bytes: Buffer, rand: () => number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; ) {
    const n = 1 + Math.floor(rand() * (rand() < 0.2 ? bytes.length : 12));
    chunks.push(bytes.subarray(i, i + n));
    i += n;
  }
  return chunks;
}

describe('LineSplitter', () => {
  it('splits merged chunks and joins partial ones', () => {
    const s = new LineSplitter();
    expect(s.push(Buffer.from('{"a":1}\n{"b"'))).toEqual(['{"a":1}']);
    expect(s.push(Buffer.from(':2}'))).toEqual([]);
    expect(s.buffered).toBe(7);
    expect(s.push(Buffer.from('\n\n{"c":3}\r\n'))).toEqual(['{"b":2}', '', '{"c":3}\r']);
    expect(s.buffered).toBe(0);
  });

  it('fuzz: any chunking yields the same lines, multi-byte characters intact', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rand = rng(seed);
      const lines = Array.from({ length: 1 + Math.floor(rand() * 20) }, (_, i) =>
        JSON.stringify({ i, text: 'é€😀 '.repeat(Math.floor(rand() * 30)), nl: 'a\nb' }));
      const out: string[] = [];
      const s = new LineSplitter();
      for (const chunk of chop(Buffer.from(lines.map((l) => `${l}\n`).join('')), rand)) out.push(...s.push(chunk));
      expect(out, `seed ${seed}`).toEqual(lines);
      expect(s.buffered).toBe(0);
    }
  });

  it('accepts a line of exactly the limit and rejects one byte more, before its newline arrives', () => {
    const s = new LineSplitter(10);
    expect(s.push(Buffer.from('0123456789\n'))).toEqual(['0123456789']);
    s.push(Buffer.from('01234'));
    let err: unknown;
    try {
      s.push(Buffer.from('567890'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QmpError);
    expect((err as QmpError).reason).toBe('protocol');
    expect((err as Error).message).toMatch(/longer than 10 bytes/);
  });
});
