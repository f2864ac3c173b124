// Finds a program the way execvp does, so a missing program gets a clear error before anything starts.

import { accessSync, constants, statSync } from 'node:fs';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The absolute path of `name` (searched in PATH unless it has a slash), or undefined. */
export function findProgram(name: string, pathVar: string = DEFAULT_PATH, cwd = '/'): string | undefined {
  if (name.includes('/')) {
    const full = name.startsWith('/') ? name : `${cwd.replace(/\/$/, '')}/${name}`;
    return isExecutable(full) ? full : undefined;
  }
  for (const dir of pathVar.split(':')) {
    const full = `${dir === '' ? '.' : dir}/${name}`;
    if (isExecutable(full)) return full;
  }
  return undefined;
}

/** Quotes one word for a POSIX shell. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./=:@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
