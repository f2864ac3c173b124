import { describe, expect, it } from 'vitest';
import { FrameKind, HEADER_SIZE, MAX_PAYLOAD, type Frame } from './contract.js';
import { decodeWindow, encodeFrame, encodeJsonFrame, encodeWindow, parseJsonPayload } from './frame.js';
import { FrameParser } from './frame-parser.js';

function parseAll(bytes: Buffer): Frame[] {
  const frames: Frame[] = [];
  const parser = new FrameParser({ frame: (f) => frames.push(f) });
  parser.push(bytes);
  return frames;
}

describe('encodeFrame', () => {
  it('writes the 12-byte big-endian header', () => {
    const bytes = encodeFrame({ kind: FrameKind.Data, flags: 2, stream: 0x01020304, payload: Buffer.from('hi') });
    expect([...bytes]).toEqual([0x4c, 0x47, 5, 2, 1, 2, 3, 4, 0, 0, 0, 2, 0x68, 0x69]);
  });

  it('round-trips through the parser (after a Hello puts it in sync)', () => {
    const hello = encodeJsonFrame(FrameKind.Hello, 0, { protocol: 1 });
    const frames = [
      { kind: FrameKind.Open, flags: 0, stream: 1, payload: Buffer.from('{"op":"info"}') },
      { kind: FrameKind.Data, flags: 1, stream: 0xffffffff, payload: Buffer.alloc(MAX_PAYLOAD, 7) },
      { kind: FrameKind.Close, flags: 1, stream: 3, payload: Buffer.alloc(0) },
      { kind: FrameKind.Window, flags: 2, stream: 5, payload: encodeWindow(4096) },
    ];
    const parsed = parseAll(Buffer.concat([hello, ...frames.map((f) => encodeFrame(f))]));
    expect(parsed).toHaveLength(5);
    expect(parsed.slice(1)).toEqual(frames);
  });

  it('refuses a payload over MAX_PAYLOAD, bad flags and bad stream ids', () => {
    expect(() => encodeFrame({ kind: FrameKind.Data, stream: 1, payload: Buffer.alloc(MAX_PAYLOAD + 1) })).toThrow(/over 262144/);
    expect(() => encodeFrame({ kind: FrameKind.Data, flags: 256, stream: 1 })).toThrow(/flags/);
    expect(() => encodeFrame({ kind: FrameKind.Data, stream: -1 })).toThrow(/stream id/);
    expect(() => encodeFrame({ kind: 99 as FrameKind, stream: 1 })).toThrow(/kind/);
    expect(() => encodeJsonFrame(FrameKind.Control, 1, { big: 'x'.repeat(MAX_PAYLOAD) })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
  });

  it('encodes JSON, and undefined as an empty payload', () => {
    expect(encodeJsonFrame(FrameKind.Finish, 1, undefined)).toHaveLength(HEADER_SIZE);
    expect(encodeJsonFrame(FrameKind.Control, 1, { a: 1 }).subarray(HEADER_SIZE).toString()).toBe('{"a":1}');
  });
});

describe('payload helpers', () => {
  it('reads a u32 Window and nothing else', () => {
    expect(decodeWindow(encodeWindow(0xffffffff))).toBe(0xffffffff);
    expect(decodeWindow(Buffer.alloc(3))).toBeUndefined();
    expect(() => encodeWindow(2 ** 32)).toThrow();
  });

  it('parses JSON payloads without throwing', () => {
    expect(parseJsonPayload(Buffer.from('{"a":[1]}'))).toEqual({ ok: true, value: { a: [1] } });
    expect(parseJsonPayload(Buffer.from('{"a":'))).toMatchObject({ ok: false });
    expect(parseJsonPayload(Buffer.alloc(0))).toMatchObject({ ok: false });
    expect(parseJsonPayload(Buffer.alloc(0), true)).toEqual({ ok: true, value: undefined });
  });
});
