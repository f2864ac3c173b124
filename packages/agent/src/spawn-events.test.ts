import { describe, expect, it } from 'vitest';
import { SpawnEvents } from './spawn-events.js';

function reader(): { seen: string[]; events: SpawnEvents } {
  const seen: string[] = [];
  return { seen, events: new SpawnEvents((fields, data) => seen.push(data ? `${fields.join(' ')}:${data.toString()}` : fields.join(' '))) };
}

describe('SpawnEvents', () => {
  it('splits lines and output records, whatever the chunks, output bytes taken as they are (newlines too)', () => {
    const stream = Buffer.from('S 1 42\nD 1 1 6\na\nb\nc\nC 1 1\nD 1 2 2\n\n\nX 1 0 0\n');
    for (const size of [1, 2, 5, stream.length]) {
      const { seen, events } = reader();
      for (let at = 0; at < stream.length; at += size) events.push(stream.subarray(at, at + size));
      expect(seen).toEqual(['S 1 42', 'D 1 1 6:a\nb\nc\n', 'C 1 1', 'D 1 2 2:\n\n', 'X 1 0 0']);
    }
  });

  it('refuses a garbled stream: a line without end, an output record without a length', () => {
    expect(() => reader().events.push(Buffer.alloc(300, 'x'))).toThrow(/longer than 256/);
    expect(() => reader().events.push(Buffer.from('D 1 1 x\n'))).toThrow(/bad output event/);
    expect(() => reader().events.push(Buffer.from('D 1 1 0\n'))).toThrow(/bad output event/);
  });
});
