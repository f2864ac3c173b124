import { statfs } from 'node:fs/promises';
import { formatSize, LodgeError } from '@lodge/api';

const NO_SPACE = /No space left on device/i;

/** True when err (or an error it wraps) is the file system running full: ENOSPC, or a tool saying so. */
export function isNoSpace(err: unknown, depth = 0): boolean {
  if (!(err instanceof Error) || depth > 5) return false;
  if ((err as NodeJS.ErrnoException).code === 'ENOSPC' || NO_SPACE.test(err.message)) return true;
  return isNoSpace(err.cause, depth + 1);
}

/** Free bytes for an unprivileged writer on the file system holding dir; undefined when it cannot be read. */
export async function freeBytes(dir: string): Promise<number | undefined> {
  const s = await statfs(dir).catch(() => undefined);
  return s === undefined ? undefined : s.bavail * s.bsize;
}

export interface BuildSpace {
  name: string;
  imagesDir: string;
  /** The step the build was at ("" before the first). */
  step: string;
  /** About how much room the build takes at its peak (temp folder plus package cache). */
  needBytes: number;
}

/**
 * A build that ran out of room, as an error that says where, at which step, and how much the build needs
 * (the failed build's files are gone by then, so "free now" is what a retry would have).
 */
export async function noSpaceError(err: unknown, b: BuildSpace): Promise<LodgeError> {
  const free = await freeBytes(b.imagesDir);
  const freeText = free === undefined ? '' : `, ${formatSize(free)} is free now`;
  const at = b.step === '' ? '' : ` (at: ${b.step})`;
  return new LodgeError(
    'insufficient_resources',
    `no space left on device in ${b.imagesDir} while building image "${b.name}"${at}: the build needs about ${formatSize(b.needBytes)} free there${freeText}`,
    {
      hint: 'free some space on that file system, or run lodged with LODGE_IMAGES_DIR on a roomier one, then build again',
      details: { name: b.name, imagesDir: b.imagesDir, step: b.step, needBytes: b.needBytes, freeBytes: free },
      cause: err,
    },
  );
}
