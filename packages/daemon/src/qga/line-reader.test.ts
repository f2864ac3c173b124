import { describe, expect, it } from 'vitest';
import { LineReader } from './line-reader.js';
import { QgaError } from './qga-errors.js';

const bytes = (...parts: Array<string | number>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : Buffer.from(p))));

describe('LineReader', () => {
  it('joins lines split across chunks, multi-byte characters included', () => {
    const r = new LineReader();
    const text = Buffer.from('{"return": "é€"}\n');
    expect(r.push(text.subarray(0, 14))).toEqual([]);
    expect(r.buffered).toBe(14);
    expect(r.push(text.subarray(14))).toEqual([{ kind: 'line', text: '{"return": "é€"}' }]);
    expect(r.push(Buffer.from('a\nb\n\nc'))).toEqual([
      { kind: 'line', text: 'a' }, { kind: 'line', text: 'b' }, { kind: 'line', text: '' },
    ]);
    expect(r.buffered).toBe(1);
  });

  it('marks 0xFF and drops the partial line before it', () => {
    const r = new LineReader();
    expect(r.push(bytes('{"return": {"hal', 0xff, '{"return": 7}\n'))).toEqual([
      { kind: 'delimiter' }, { kind: 'line', text: '{"return": 7}' },
    ]);
  });

  it('fails once an unterminated line passes the limit, and recovers after reset', () => {
    const r = new LineReader(8);
    expect(() => r.push(Buffer.from('123456789'))).toThrow(QgaError);
    expect(r.buffered).toBe(0);
    expect(r.push(Buffer.from('ok\n'))).toEqual([{ kind: 'line', text: 'ok' }]);
  });
});
