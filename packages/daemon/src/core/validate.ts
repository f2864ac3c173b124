import type { z } from 'zod';
import { LodgeError } from '@lodge/api';

/** Parses untrusted input, or throws invalid_argument naming every field that is wrong. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => {
    const field = i.path.join('.');
    const message = i.code === 'unrecognized_keys' ? `unknown field(s) ${i.keys.map((k) => `"${k}"`).join(', ')}` : i.message;
    return field ? `${field}: ${message}` : message;
  });
  throw new LodgeError('invalid_argument', `invalid ${what}: ${issues.join('; ')}`, { details: { issues } });
}
