import { describe, expect, it } from 'vitest';
import { parseBzImage } from './kernel-image.js';

/** A minimal bzImage header: boot protocol 2.15, 3 setup sectors, payload at offset 100 of the protected-mode part. */
function bzImage(payload: number[], version = 0x20f): Buffer {
  const buf = Buffer.alloc(4 * 512 + 100 + payload.length);
  buf[0x1f1] = 3;
  buf.write('HdrS', 0x202, 'latin1');
  buf.writeUInt16LE(version, 0x206);
  buf.writeUInt32LE(100, 0x248);
  buf.writeUInt32LE(payload.length, 0x24c);
  Buffer.from(payload).copy(buf, 4 * 512 + 100);
  return buf;
}

describe('parseBzImage', () => {
  it('finds the payload and recognises its compression by magic', () => {
    expect(parseBzImage(bzImage([0x02, 0x21, 0x4c, 0x18, 1, 2, 3, 4]))).toEqual({ start: 2148, length: 8, format: 'lz4' });
    expect(parseBzImage(bzImage([0x1f, 0x8b, 8, 0]))?.format).toBe('gzip');
    expect(parseBzImage(bzImage([0x28, 0xb5, 0x2f, 0xfd, 0]))?.format).toBe('zstd');
    expect(parseBzImage(bzImage([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))?.format).toBe('xz');
    expect(parseBzImage(bzImage([9, 9, 9, 9]))?.format).toBe('unknown');
  });

  it('rejects files that are not a bzImage with payload fields', () => {
    expect(parseBzImage(Buffer.from('\x7fELF not a bzImage'.padEnd(4096, '\0')))).toBeUndefined();
    expect(parseBzImage(bzImage([1, 2, 3], 0x206))).toBeUndefined();
    const truncated = bzImage([0x1f, 0x8b, 8, 0]);
    truncated.writeUInt32LE(1_000_000, 0x24c);
    expect(parseBzImage(truncated)).toBeUndefined();
  });
});
