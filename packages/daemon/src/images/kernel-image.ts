import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { pipeCommand } from './host-command.js';

/** Where a bzImage keeps its compressed kernel, and how it is compressed. */
export interface BzPayload {
  start: number;
  length: number;
  format: 'gzip' | 'xz' | 'zstd' | 'lz4' | 'lzma' | 'bzip2' | 'lzo' | 'unknown';
}

const MAGICS: [BzPayload['format'], number[]][] = [
  ['gzip', [0x1f, 0x8b]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['lz4', [0x02, 0x21, 0x4c, 0x18]],
  ['lzma', [0x5d, 0x00, 0x00]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['lzo', [0x89, 0x4c, 0x5a, 0x4f]],
];

/** Reads the x86 boot protocol header (>= 2.08: payload_offset/length); undefined for anything else. */
export function parseBzImage(buf: Buffer): BzPayload | undefined {
  if (buf.length < 0x250 || buf.toString('latin1', 0x202, 0x206) !== 'HdrS' || buf.readUInt16LE(0x206) < 0x208) return undefined;
  const setupSects = buf[0x1f1] || 4; // 0 means 4, per the boot protocol
  const start = (setupSects + 1) * 512 + buf.readUInt32LE(0x248);
  const length = buf.readUInt32LE(0x24c);
  if (length === 0 || start + length > buf.length) return undefined;
  const format = MAGICS.find(([, magic]) => magic.every((b, i) => buf[start + i] === b))?.[0] ?? 'unknown';
  return { start, length, format };
}

const TOOLS: Partial<Record<BzPayload['format'], string>> = { xz: 'xz', zstd: 'zstd', lz4: 'lz4', lzma: 'xz' };

/**
 * Writes the uncompressed ELF vmlinux inside a bzImage. QEMU boots that directly through PVH, skipping the
 * firmware's real-mode loader and the in-guest decompression (about a second under TCG). False when it cannot.
 */
export async function extractVmlinux(bzImage: string, output: string, signal?: AbortSignal): Promise<boolean> {
  const buf = await readFile(bzImage);
  const payload = parseBzImage(buf);
  if (!payload) return false;
  const data = buf.subarray(payload.start, payload.start + payload.length);
  // Every format but gzip gets the uncompressed size appended by the kernel build (size_append).
  const expected = payload.format === 'gzip' ? undefined : data.readUInt32LE(data.length - 4);
  if (payload.format === 'gzip') {
    await writeFile(output, gunzipSync(data));
  } else {
    const tool = TOOLS[payload.format];
    if (!tool) return false;
    const compressed = `${output}.compressed`;
    await writeFile(compressed, data.subarray(0, data.length - 4));
    try {
      await pipeCommand(tool, ['-dc', compressed], { input: '', outputFile: output, signal });
    } catch (err) {
      if (signal?.aborted) throw err;
      await rm(output, { force: true });
      return false; // the tool is missing or the payload is not what it looked like: keep the bzImage
    } finally {
      await rm(compressed, { force: true });
    }
  }
  const ok = await looksLikeVmlinux(output, expected);
  if (!ok) await rm(output, { force: true });
  return ok;
}

async function looksLikeVmlinux(file: string, expectedSize: number | undefined): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    await handle.read(head, 0, 4, 0);
    const { size } = await handle.stat();
    return head.toString('latin1') === '\x7fELF' && (expectedSize === undefined || size === expectedSize);
  } finally {
    await handle.close();
  }
}
