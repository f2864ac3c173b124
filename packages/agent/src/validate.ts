// Hand-written checks of request fields (no zod in the guest): each failure names the field.

import { OpError } from './op-error.js';

export type Fields = Record<string, unknown>;

function invalid(message: string): never {
  throw new OpError('invalid_argument', message);
}

export function asObject(value: unknown, what: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(`${what} must be an object`);
  return value as Fields;
}

export function str(fields: Fields, key: string, opts: { optional?: boolean; max?: number } = {}): string | undefined {
  const value = fields[key];
  if (value === undefined && opts.optional) return undefined;
  if (typeof value !== 'string') invalid(`${key} must be a string`);
  if (value.includes('\0')) invalid(`${key} must not contain NUL bytes`);
  if (value.length > (opts.max ?? 4096)) invalid(`${key} is longer than ${opts.max ?? 4096} characters`);
  return value;
}

export function reqStr(fields: Fields, key: string, max?: number): string {
  return str(fields, key, max === undefined ? {} : { max }) as string;
}

export function int(fields: Fields, key: string, opts: { optional?: boolean; min?: number; max?: number } = {}): number | undefined {
  const value = fields[key];
  if (value === undefined && opts.optional) return undefined;
  const min = opts.min ?? 0;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalid(`${key} must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function num(fields: Fields, key: string): number {
  const value = fields[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) invalid(`${key} must be a finite number`);
  return value;
}

export function bool(fields: Fields, key: string): boolean | undefined {
  const value = fields[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') invalid(`${key} must be true or false`);
  return value;
}

export function strArray(fields: Fields, key: string, opts: { min?: number; max?: number } = {}): string[] {
  const value = fields[key];
  if (!Array.isArray(value)) invalid(`${key} must be an array of strings`);
  if (value.length < (opts.min ?? 0) || value.length > (opts.max ?? 4096)) {
    invalid(`${key} must have ${opts.min ?? 0} to ${opts.max ?? 4096} items`);
  }
  value.forEach((item, i) => {
    if (typeof item !== 'string' || item.includes('\0')) invalid(`${key}[${i}] must be a string without NUL bytes`);
  });
  return value as string[];
}

export function strRecord(fields: Fields, key: string): Record<string, string> | undefined {
  const value = fields[key];
  if (value === undefined) return undefined;
  const record = asObject(value, key);
  for (const [name, item] of Object.entries(record)) {
    if (name === '' || name.includes('=') || name.includes('\0')) invalid(`${key} has an invalid name "${name}"`);
    if (typeof item !== 'string' || item.includes('\0')) invalid(`${key}.${name} must be a string without NUL bytes`);
  }
  return record as Record<string, string>;
}
