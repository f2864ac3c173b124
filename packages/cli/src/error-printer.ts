import { ERROR_CODES, LodgeError, type ApiError, type ErrorCode } from '@lodge/api/lite';
import { UsageError } from './flag-values.js';

export interface PrintedError {
  stderr: string;
  /** The JSON envelope, only in --json mode. */
  stdout?: string;
  exitCode: number;
}

/** A LodgeError, also one from another copy of @lodge/api (matched by its code). */
export function asLodgeError(err: unknown): LodgeError | undefined {
  if (err instanceof LodgeError) return err;
  const e = err as { code?: unknown; message?: unknown; hint?: unknown; details?: unknown } | null;
  if (e && (ERROR_CODES as readonly unknown[]).includes(e.code) && typeof e.message === 'string') {
    const details = typeof e.details === 'object' && e.details !== null ? (e.details as Record<string, unknown>) : undefined;
    return new LodgeError(e.code as ErrorCode, e.message, { hint: typeof e.hint === 'string' ? e.hint : undefined, details });
  }
  return undefined;
}

/** The wire shape of any error: what --json prints inside {"error": ...}. */
export function apiErrorOf(err: unknown): ApiError {
  const known = asLodgeError(err);
  if (known) return known.toJSON();
  return { code: 'internal', message: err instanceof Error ? err.message : String(err) };
}

/**
 * The one way the CLI shows an error: "lodge: message", "  hint: ...", exit 1 (2 for usage errors; an exec whose
 * program could not start: 127 not found, 126 not runnable, the guest's `shellStatus`, as sh and ssh exit).
 */
export function formatError(err: unknown, opts: { json: boolean; debug?: boolean }): PrintedError {
  const known = asLodgeError(err);
  const api = apiErrorOf(err);
  let stderr = `lodge: ${api.message}\n`;
  if (api.hint) stderr += `  hint: ${api.hint}\n`;
  // Only a bug (not a LodgeError) ever shows a stack, and only when asked for.
  if (!known && opts.debug && err instanceof Error && err.stack) stderr += `${err.stack}\n`;
  return {
    stderr,
    stdout: opts.json ? `${JSON.stringify({ error: api })}\n` : undefined,
    exitCode: err instanceof UsageError ? 2 : shellStatusOf(known) ?? 1,
  };
}

function shellStatusOf(err: LodgeError | undefined): number | undefined {
  const status = err?.details?.shellStatus;
  return status === 126 || status === 127 ? status : undefined;
}

/** Prints the error and returns the exit code it asks for. */
export function printError(err: unknown, json: boolean): number {
  const out = formatError(err, { json, debug: Boolean(process.env.LODGE_DEBUG) });
  process.stderr.write(out.stderr);
  if (out.stdout) process.stdout.write(out.stdout);
  return out.exitCode;
}
