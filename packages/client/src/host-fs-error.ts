import { LodgeError } from '@lodge/api/lite';

const REASONS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EEXIST: 'something else is already there',
  ENOTDIR: 'not a folder',
  EISDIR: 'is a folder',
  ENOTEMPTY: 'folder not empty',
  ELOOP: 'is a symlink',
  ENOSPC: 'no space left on the device',
  EROFS: 'read-only file system',
  ENXIO: 'is a special file',
};

/** A failed file-system call on the host, as the LodgeError the CLI prints: what, where, and errno in words. */
export function hostFsError(err: unknown, action: string, path: string): LodgeError {
  const code = (err as NodeJS.ErrnoException | null)?.code ?? '';
  const reason = REASONS[code] ?? (err instanceof Error ? err.message : String(err));
  const message = `cannot ${action} ${path}: ${reason}`;
  if (code === 'ENOENT') return new LodgeError('not_found', message, { cause: err });
  if (code === 'ENOSPC') return new LodgeError('insufficient_resources', message, { cause: err });
  return new LodgeError(REASONS[code] ? 'invalid_argument' : 'internal', message, { cause: err });
}

/** Runs a synchronous file-system call on the host; its failure as hostFsError. */
export function hostFsCall<T>(call: () => T, action: string, path: string): T {
  try {
    return call();
  } catch (err) {
    throw hostFsError(err, action, path);
  }
}
