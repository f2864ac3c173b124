import type { ApiError, ErrorCode } from './error-code.js';

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
