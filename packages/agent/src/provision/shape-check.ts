// Strict checks of the seed's JSON by hand (no zod in the guest): each failure names the field's path.

export class SeedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SeedError';
  }
}

export type Shape = Record<string, unknown>;

export function fail(path: string, message: string): never {
  throw new SeedError(`${path} ${message}`);
}

/** An object with no keys but `required` and `optional` ones. */
export function object(value: unknown, path: string, required: readonly string[], optional: readonly string[] = []): Shape {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, 'must be an object');
  const shape = value as Shape;
  const unknown = Object.keys(shape).filter((k) => !required.includes(k) && !optional.includes(k));
  if (unknown.length > 0) fail(path, `has unknown keys: ${unknown.join(', ')} (known: ${[...required, ...optional].join(', ')})`);
  const missing = required.filter((k) => shape[k] === undefined);
  if (missing.length > 0) fail(path, `lacks ${missing.join(', ')}`);
  return shape;
}

export function string(value: unknown, path: string, opts: { pattern?: RegExp; hint?: string; max?: number } = {}): string {
  if (typeof value !== 'string') fail(path, 'must be a string');
  if (value.includes('\0')) fail(path, 'must not contain NUL bytes');
  const max = opts.max ?? 4096;
  if (value.length > max) fail(path, `is longer than ${max} characters`);
  if (opts.pattern && !opts.pattern.test(value)) fail(path, `is ${JSON.stringify(value.slice(0, 80))}; ${opts.hint ?? `it must match ${opts.pattern}`}`);
  return value;
}

export function literal<T extends string | boolean>(value: unknown, path: string, expected: T): T {
  if (value !== expected) fail(path, `must be ${JSON.stringify(expected)}`);
  return expected;
}

export function boolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') fail(path, 'must be true or false');
  return value;
}

export function array<T>(value: unknown, path: string, max: number, item: (v: unknown, path: string) => T): T[] {
  if (!Array.isArray(value)) fail(path, 'must be an array');
  if (value.length > max) fail(path, `has ${value.length} items; at most ${max}`);
  return value.map((v, i) => item(v, `${path}[${i}]`));
}

/** A line of text: no line breaks (authorized_keys lines, sudo rules). */
export const ONE_LINE = /^[^\n\r]*$/;
