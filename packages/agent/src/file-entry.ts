// File tree entries on the wire: checks of a received entry, and the errno → protocol code mapping for files.

import type { FileEntry } from '@lodge/api/guest';
import { OpError } from './op-error.js';
import { asObject, int, num, reqStr, str } from './validate.js';

const KINDS = new Set(['file', 'dir', 'symlink']);

/** Splits a received entry path into components, refusing absolute paths and empty, `.` or `..` components. */
export function entryComponents(path: string): string[] {
  if (path.startsWith('/')) throw new OpError('invalid_argument', `entry ${path}: absolute paths are refused`);
  const parts = path.split('/');
  for (const part of parts) {
    if (part === '' || part === '.' || part === '..') {
      throw new OpError('invalid_argument', `entry ${path}: empty, "." or ".." components are refused`);
    }
  }
  return parts;
}

/** A Control {type:'entry', ...} message from the host, checked field by field. */
export function parseEntry(message: unknown): FileEntry {
  const fields = asObject(message, 'entry');
  const path = reqStr(fields, 'path');
  const kind = reqStr(fields, 'kind');
  if (!KINDS.has(kind)) throw new OpError('invalid_argument', `entry ${path}: kind must be file, dir or symlink`);
  const entry: FileEntry = {
    path,
    kind: kind as FileEntry['kind'],
    mode: int(fields, 'mode', { min: 0, max: 0o7777 }) as number,
    size: int(fields, 'size') as number,
    mtimeMs: num(fields, 'mtimeMs'),
  };
  const target = str(fields, 'target', { optional: true });
  if (kind === 'symlink') {
    if (!target) throw new OpError('invalid_argument', `entry ${path}: a symlink needs a target`);
    entry.target = target;
  }
  return entry;
}
