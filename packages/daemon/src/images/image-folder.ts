import { readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { syncDir } from './image-manifest.js';

/** Temp folders of builds that died without cleaning up are removed once older than this (live builds are younger). */
const STALE_AFTER_MS = 6 * 60 * 60 * 1000;

/** Prefix of a recipe's temp build folders; dot names are never listed as images. */
export function tempPrefix(name: string): string {
  return `.${name}.tmp-`;
}

/** Swaps a finished temp folder in as `folder`; a previous build is moved aside first, then removed. */
export async function publishFolder(tmp: string, folder: string): Promise<void> {
  const old = `${tmp}.old`;
  const hadOld = await rename(folder, old).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw err;
    },
  );
  try {
    await rename(tmp, folder);
  } catch (err) {
    if (hadOld) await rename(old, folder).catch(() => undefined);
    throw err;
  }
  await syncDir(dirname(folder));
  if (hadOld) await rm(old, { recursive: true, force: true });
}

/** Removes temp folders (and moved-aside old builds) that a crashed build left in imagesDir. */
export async function removeStaleTemps(imagesDir: string, name: string, now = Date.now()): Promise<void> {
  const names = await readdir(imagesDir).catch(() => [] as string[]);
  for (const n of names) {
    if (!n.startsWith(tempPrefix(name))) continue;
    const s = await stat(join(imagesDir, n)).catch(() => undefined);
    if (s && now - s.mtimeMs > STALE_AFTER_MS) await rm(join(imagesDir, n), { recursive: true, force: true });
  }
}
