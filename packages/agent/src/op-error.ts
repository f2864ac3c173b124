// Errors an operation ends with: a protocol error code plus a message naming the path or value at fault.

import { constants } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { guestError, type GuestError, type GuestErrorCode, type ShellStatus } from '@lodge/api/guest';

export class OpError extends Error {
  /** `shellStatus`: an exec's program could not be started (GuestError's field). */
  constructor(readonly code: GuestErrorCode, message: string, readonly shellStatus?: ShellStatus) {
    super(message);
    this.name = 'OpError';
  }
}

/** Maps an errno code to the closest protocol code. */
export function codeOfErrno(errno: string | undefined): GuestErrorCode {
  switch (errno) {
    case 'ENOENT':
      return 'not_found';
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return 'permission_denied';
    case 'ENOTDIR':
    case 'EISDIR':
    case 'EEXIST':
    case 'ELOOP':
    case 'ENOTEMPTY':
    case 'EINVAL':
    case 'ENAMETOOLONG':
      return 'invalid_argument';
    default:
      return 'internal';
  }
}

/** An OpError for a failed system call on `path` ("open /x: no such file or directory (ENOENT)"). */
export function fsError(action: string, path: string, error: unknown): OpError {
  if (error instanceof OpError) return error;
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  const text = error instanceof Error ? error.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '') : String(error);
  return new OpError(codeOfErrno(errno), `${action} ${path}: ${text}`);
}

/** A synchronous file system call; its failure as fsError(action, path). */
export function fsCall<T>(action: string, path: string, call: () => T): T {
  try {
    return call();
  } catch (e) {
    throw fsError(action, path, e);
  }
}

const KNOWN_ERRNOS = new Set(Object.values(constants.errno));

/** The name of an errno number a native helper reported (ENOENT), as Node's own errors name it; `errno N` if unknown. */
export function errnoName(errno: number): string {
  return KNOWN_ERRNOS.has(errno) ? getSystemErrorName(-errno) : `errno ${errno}`;
}

/** An OpError for an errno number lodge-port reported ("write /x: ENOSPC"). */
export function errnoError(action: string, path: string, errno: number): OpError {
  const name = errnoName(errno);
  return new OpError(codeOfErrno(name), `${action} ${path}: ${name}`);
}

/** The Reset payload for anything thrown by an operation. */
export function toGuestError(error: unknown): GuestError {
  if (error instanceof OpError) return guestError(error.code, error.message, error.shellStatus);
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'internal', message: `agent error: ${message}` };
}
