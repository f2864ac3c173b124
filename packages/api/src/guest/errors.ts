// Errors of the guest protocol engine: plain Errors with the protocol's code (no LodgeError: the agent ships alone).
import { GUEST_ERROR_CODES, isShellStatus, type GuestError, type GuestErrorCode, type ShellStatus } from './contract.js';

/** Longest message we keep from the peer or send in a Reset (the frame must stay far below MAX_PAYLOAD). */
export const MAX_ERROR_MESSAGE = 1024;

/** What the engine throws or rejects with; `code` is one of GUEST_ERROR_CODES. */
export class GuestProtocolError extends Error {
  readonly code: GuestErrorCode;
  readonly shellStatus: ShellStatus | undefined;

  constructor(code: GuestErrorCode, message: string, shellStatus?: ShellStatus) {
    super(message);
    this.name = 'GuestProtocolError';
    this.code = code;
    this.shellStatus = shellStatus;
  }

  static from(error: GuestError): GuestProtocolError {
    return new GuestProtocolError(error.code, error.message, error.shellStatus);
  }

  toJSON(): GuestError {
    return guestError(this.code, this.message, this.shellStatus);
  }
}

export function isGuestErrorCode(value: unknown): value is GuestErrorCode {
  return typeof value === 'string' && (GUEST_ERROR_CODES as readonly string[]).includes(value);
}

/** A bounded GuestError, e.g. for a Reset payload. */
export function guestError(code: GuestErrorCode, message: string, shellStatus?: ShellStatus): GuestError {
  const error: GuestError = { code, message: message.length > MAX_ERROR_MESSAGE ? message.slice(0, MAX_ERROR_MESSAGE) : message };
  if (shellStatus !== undefined) error.shellStatus = shellStatus;
  return error;
}

/** Reads a Reset payload from the peer without trusting its shape: unknown codes become `internal`. */
export function toGuestError(value: unknown): GuestError {
  if (typeof value !== 'object' || value === null) return guestError('protocol_error', 'malformed Reset payload');
  const { code, message, shellStatus } = value as { code?: unknown; message?: unknown; shellStatus?: unknown };
  const text = typeof message === 'string' ? message : '';
  const status = isShellStatus(shellStatus) ? shellStatus : undefined; // anything else is dropped
  return isGuestErrorCode(code) ? guestError(code, text, status) : guestError('internal', `${String(code).slice(0, 64)}: ${text}`);
}

/** The message of anything thrown, for a GuestError. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
