import { constants } from 'node:fs';
import { copyFile, link, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageEntry } from '@lodge/api';
import { MANIFEST_FILE, readManifest } from './image-manifest.js';

/**
 * A VM's own links to the files of the image it was made from (its `image/` folder): its disk's backing file, kernel
 * and initrd never change under it, whatever later happens to the image: rebuilt, removed, or rebuilt by another
 * home that shares the images folder. Builds and imports publish new files by rename, so a link keeps the old ones.
 */
export async function pinImage(image: ImageEntry, dest: string): Promise<ImageEntry> {
  await mkdir(dest, { mode: 0o700 });
  for (const file of [image.disk, image.kernel, image.initrd, MANIFEST_FILE]) {
    if (file !== undefined) await linkOrCopy(join(image.folder, file), join(dest, file));
  }
  return { ...image, folder: dest };
}

/** The image a VM pinned at its creation; undefined for a VM made before pinning (its disk names the image's file). */
export async function readPinnedImage(dir: string): Promise<ImageEntry | undefined> {
  const info = await readManifest(dir);
  return info && { ...info, folder: dir };
}

/** A hard link costs nothing; an images folder on another file system gets a copy (a clone where it can). */
async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw err;
    await copyFile(from, to, constants.COPYFILE_FICLONE);
  }
}
