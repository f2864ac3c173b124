import { createHash } from 'node:crypto';
import { open, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageInfo } from '@lodge/api';
import { parseJsonAs } from '../sys/json-text.js';

/** The manifest's file name inside an image folder; written last, so its presence means the image is complete. */
export const MANIFEST_FILE = 'image.json';

/** Parses a manifest's text; undefined when it is not JSON or not an ImageInfo (extra fields are dropped). */
export function parseManifest(text: string): ImageInfo | undefined {
  return parseJsonAs(ImageInfo, text);
}

/** Reads folder/image.json and checks the files it names exist; undefined for a missing, broken or incomplete image. */
export async function readManifest(folder: string): Promise<ImageInfo | undefined> {
  const text = await readFile(join(folder, MANIFEST_FILE), 'utf8').catch(() => undefined);
  const info = text === undefined ? undefined : parseManifest(text);
  if (!info) return undefined;
  if (info.initrd !== undefined && info.kernel === undefined) return undefined; // an initrd alone boots nothing
  for (const file of [info.kernel, info.initrd, info.disk]) {
    if (file === undefined) continue;
    if (file.includes('/') || file.startsWith('.')) return undefined; // names stay inside the image folder
    const s = await stat(join(folder, file)).catch(() => undefined);
    if (!s?.isFile()) return undefined;
  }
  return info;
}

/** Writes the manifest crash-safely: temp file, fsync, rename, fsync the folder. */
export async function writeManifest(folder: string, manifest: ImageInfo & Record<string, unknown>): Promise<void> {
  const tmp = join(folder, `.${MANIFEST_FILE}.tmp`);
  const file = await open(tmp, 'w', 0o644);
  try {
    await file.writeFile(`${JSON.stringify(manifest, null, 2)}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, join(folder, MANIFEST_FILE));
  await syncDir(folder);
}

/** fsyncs a folder so a rename inside it survives a crash. */
export async function syncDir(folder: string): Promise<void> {
  const dir = await open(folder, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** sha256 over the recipe's parts, in order; a change to any part means a rebuild. */
export function recipeHash(parts: readonly string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${part.length}:${part}\n`);
  return hash.digest('hex');
}
