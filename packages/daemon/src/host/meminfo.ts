import { readFile } from 'node:fs/promises';

export interface MemInfo {
  totalBytes: number;
  availableBytes: number;
}

/** Host memory from /proc/meminfo; read live on every call (one small file). */
export async function readMemInfo(path = '/proc/meminfo'): Promise<MemInfo> {
  return parseMemInfo(await readFile(path, 'utf8'));
}

/** Values in /proc/meminfo are kB (KiB, despite the unit's name). */
export function parseMemInfo(text: string): MemInfo {
  const kib = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(\w+(?:\(\w+\))?):\s+(\d+)/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) kib.set(match[1], Number(match[2]));
  }
  const total = kib.get('MemTotal');
  if (total === undefined) throw new Error('no MemTotal line in meminfo');
  // Kernels before 3.14 have no MemAvailable; free + page cache is the usual estimate.
  const available = kib.get('MemAvailable') ?? (kib.get('MemFree') ?? 0) + (kib.get('Buffers') ?? 0) + (kib.get('Cached') ?? 0);
  return { totalBytes: total * 1024, availableBytes: available * 1024 };
}
