import { z } from 'zod';

/** The closed list of error codes; one function (httpStatusOf) maps them to HTTP. */
export const ErrorCode = z.enum([
  'invalid_argument',
  'not_found',
  'already_exists',
  'invalid_state',
  'conflict',
  'insufficient_resources',
  'image_unavailable',
  'qemu_failed',
  'host_unsupported',
  'daemon_unreachable',
  'timeout',
  'internal',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const ApiError = z.object({
  code: ErrorCode,
  message: z.string(),
  /** What the user can do about it. */
  hint: z.string().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
  cause: z.string().optional(),
});
export type ApiError = z.infer<typeof ApiError>;

export const ErrorResponse = z.object({ error: ApiError });

export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case 'invalid_argument':
      return 400;
    case 'not_found':
      return 404;
    case 'already_exists':
    case 'invalid_state':
    case 'conflict':
      return 409;
    case 'insufficient_resources':
    case 'image_unavailable':
    case 'host_unsupported':
      return 422;
    case 'timeout':
      return 504;
    case 'daemon_unreachable':
      return 503;
    case 'qemu_failed':
    case 'internal':
      return 500;
  }
}

export interface LodgeErrorExtra {
  hint?: string;
  details?: Record<string, unknown>;
  cause?: unknown;
}

/** The one error type thrown across layers: a code from the closed list, a message naming the values, a hint. */
export class LodgeError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, extra: LodgeErrorExtra = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'LodgeError';
    this.code = code;
    this.hint = extra.hint;
    this.details = extra.details;
  }

  toJSON(): ApiError {
    const cause = this.cause instanceof Error ? this.cause.message : this.cause === undefined ? undefined : String(this.cause);
    return { code: this.code, message: this.message, hint: this.hint, details: this.details, cause };
  }

  static from(err: unknown): LodgeError {
    if (err instanceof LodgeError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new LodgeError('internal', message, { cause: err });
  }
}
