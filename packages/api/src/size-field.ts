import { z } from 'zod';
import { formatSize, parseSize } from './size.js';

/** A size field accepting "512M" or bytes, bounded to [min, max] bytes. */
export function sizeField(what: string, min: number, max: number) {
  return z.union([z.string(), z.number()]).transform((v, ctx) => {
    const bytes = parseSize(v);
    if (typeof bytes === 'string') {
      ctx.addIssue({ code: 'custom', message: `${what}: ${bytes}` });
      return z.NEVER;
    }
    if (bytes < min || bytes > max) {
      ctx.addIssue({ code: 'custom', message: `${what} must be between ${formatSize(min)} and ${formatSize(max)}, got ${formatSize(bytes)}` });
      return z.NEVER;
    }
    return bytes;
  });
}
