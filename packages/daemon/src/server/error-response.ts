import { httpStatusOf, LodgeError, type ApiError } from '@lodge/api';

export function toApiError(err: unknown): { status: number; body: { error: ApiError } } {
  const e = err instanceof SyntaxError ? new LodgeError('invalid_argument', `request body is not valid JSON: ${err.message}`) : LodgeError.from(err);
  return { status: httpStatusOf(e.code), body: { error: e.toJSON() } };
}
