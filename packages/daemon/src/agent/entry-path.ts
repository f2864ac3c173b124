import { LodgeError } from '@lodge/api';
import type { FileEntry } from '@lodge/api/guest';

/** Refuses entry paths that could escape the destination: absolute, `..`, empty components, NUL or backslash. */
export function checkEntryPath(entry: FileEntry): void {
  const parts = entry.path.split('/');
  const bad = entry.path === '' || entry.path.startsWith('/') || entry.path.includes('\0') || entry.path.includes('\\') || parts.some((p) => p === '' || p === '.' || p === '..');
  if (bad) throw new LodgeError('invalid_argument', `unsafe entry path ${JSON.stringify(entry.path)}`);
}

/** Tracks that each file entry is followed by exactly its size in bytes, and nothing else carries bytes. */
export class EntryBytes {
  entries = 0;
  bytes = 0;
  private remaining = 0;
  private current = '';

  entry(entry: FileEntry): void {
    this.expectComplete();
    checkEntryPath(entry);
    this.entries += 1;
    this.current = entry.path;
    this.remaining = entry.kind === 'file' ? entry.size : 0;
  }

  data(length: number): void {
    if (length > this.remaining) {
      const what = this.entries === 0 ? 'before any entry' : `past the ${this.remaining} bytes left of ${this.current}`;
      throw new LodgeError('invalid_argument', `${length} bytes of file data ${what}`);
    }
    this.remaining -= length;
    this.bytes += length;
  }

  expectComplete(): void {
    if (this.remaining !== 0) throw new LodgeError('invalid_argument', `${this.current} ended ${this.remaining} bytes short of its size`);
  }
}
