import { LodgeError } from '@lodge/api/lite';
import type { FileEntry } from '@lodge/api/guest';

const KINDS: readonly string[] = ['file', 'dir', 'symlink'];

/** The error for an entry the writer will not write, naming it. */
export function refuse(path: unknown, why: string): LodgeError {
  return new LodgeError('invalid_argument', `refusing entry ${JSON.stringify(path)}: ${why}`, {
    hint: 'nothing was written for it; what the VM sent may be corrupt or hostile',
  });
}

/** The components of an entry path; refused unless relative, '/'-separated, and free of '', '.', '..' and NUL. */
export function pathParts(path: string): string[] {
  if (path === '') throw refuse(path, 'the path is empty');
  if (path.includes('\0')) throw refuse(path, 'the path contains a NUL byte');
  if (path.startsWith('/')) throw refuse(path, 'the path is absolute');
  const parts = path.split('/');
  for (const part of parts) {
    if (part === '') throw refuse(path, 'the path has an empty component');
    if (part === '.' || part === '..') throw refuse(path, `the path contains "${part}"`);
  }
  return parts;
}

/** An entry from the wire (untrusted) checked field by field; mode masked to permission bits. */
export function checkEntry(value: unknown): FileEntry {
  const e = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const path = e.path;
  if (typeof path !== 'string') throw refuse(path, 'the path is not a string');
  pathParts(path);
  if (typeof e.kind !== 'string' || !KINDS.includes(e.kind)) throw refuse(path, `unknown kind ${JSON.stringify(e.kind)}`);
  const kind = e.kind as FileEntry['kind'];
  if (!Number.isSafeInteger(e.mode) || (e.mode as number) < 0) throw refuse(path, 'the mode is not a whole number');
  if (!Number.isSafeInteger(e.size) || (e.size as number) < 0) throw refuse(path, 'the size is not a whole number');
  if (typeof e.mtimeMs !== 'number' || !Number.isFinite(e.mtimeMs)) throw refuse(path, 'the mtime is not a number');
  const entry: FileEntry = { path, kind, mode: (e.mode as number) & 0o7777, size: kind === 'file' ? (e.size as number) : 0, mtimeMs: e.mtimeMs };
  if (kind === 'symlink') {
    if (typeof e.target !== 'string' || e.target === '' || e.target.includes('\0')) throw refuse(path, 'the symlink has no usable target');
    entry.target = e.target;
  }
  return entry;
}
