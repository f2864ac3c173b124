import { LodgeError, parseSize } from '@lodge/api/lite';

/** Bad command-line input: printed like every error, but exits 2 as usage errors do. */
export class UsageError extends LodgeError {
  constructor(message: string, hint?: string) {
    super('invalid_argument', message, { hint });
    this.name = 'UsageError';
  }
}

/** A whole number flag such as --cpus 2 or --timeout 30, checked before any request. */
export function wholeNumberFlag(flag: string, value: string, bounds: { min: number; max?: number }): number {
  const n = /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  const range = bounds.max === undefined ? `≥ ${bounds.min}` : `between ${bounds.min} and ${bounds.max}`;
  if (!Number.isSafeInteger(n) || n < bounds.min || (bounds.max !== undefined && n > bounds.max)) {
    throw new UsageError(`${flag} "${value}" is not valid: write a whole number ${range}`);
  }
  return n;
}

/** A size flag such as --memory 512M; returns bytes. */
export function sizeFlag(flag: string, value: string): number {
  const bytes = parseSize(value);
  if (typeof bytes === 'string') throw new UsageError(`${flag}: ${bytes}`);
  return bytes;
}
