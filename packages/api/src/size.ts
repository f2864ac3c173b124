const UNITS: Record<string, number> = { '': 1, B: 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** Parses "512M", "4G", "1.5G", "4GiB" or a byte count; returns bytes or an error message. */
export function parseSize(input: string | number): number | string {
  if (typeof input === 'number') {
    return Number.isSafeInteger(input) && input >= 0 ? input : `size ${input} is not a whole, non-negative number of bytes`;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(input);
  if (!m) return `size "${input}" is not understood: write a number with an optional unit K, M, G or T (e.g. 512M, 4G)`;
  const bytes = Math.round(Number(m[1]) * (UNITS[(m[2] ?? '').toUpperCase()] ?? 1));
  return Number.isSafeInteger(bytes) ? bytes : `size "${input}" is too large`;
}

/** Formats bytes with binary units the way the CLI accepts them back ("512M", "4G", "1.5G"). */
export function formatSize(bytes: number): string {
  for (const unit of ['T', 'G', 'M', 'K'] as const) {
    const n = bytes / (UNITS[unit] ?? 1);
    if (n >= 1) return `${Number.isInteger(n) ? n : Number(n.toFixed(1))}${unit}`; // 251.98 → "252G", not "252.0G"
  }
  return `${bytes}B`;
}

