import { randomBytes } from 'node:crypto';
import { lstat, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LodgeError, type ImageEntry } from '@lodge/api';
import { tempPrefix } from './image-folder.js';
import { importImage as importInto, type ImportOptions } from './image-import.js';
import { readManifest, syncDir } from './image-manifest.js';
import { buildDebianImage, DEBIAN_IMAGE_NAME } from './debian-image.js';
import { buildMicroImage, type BuildImageOptions } from './micro-image.js';

type Recipe = (opts: BuildImageOptions) => Promise<{ image: ImageEntry; cached: boolean }>;

const RECIPES: Record<string, Recipe> = { micro: buildMicroImage, [DEBIAN_IMAGE_NAME]: buildDebianImage };

/** Names of the images Lodge knows how to build. */
export const KNOWN_RECIPES: readonly string[] = Object.keys(RECIPES);

function isRecipe(name: string): boolean {
  return Object.hasOwn(RECIPES, name);
}

function unknownRecipe(name: string, code: 'invalid_argument' | 'not_found'): LodgeError {
  return new LodgeError(code, `unknown image "${name}"; known images: ${KNOWN_RECIPES.join(', ')}`, {
    hint: `run: lodge image build ${KNOWN_RECIPES[0] ?? ''}`.trimEnd(),
    details: { name, known: KNOWN_RECIPES },
  });
}

/** Every complete image under imagesDir; temp and cache folders (dot names) and broken manifests are skipped. */
export async function listImages(imagesDir: string): Promise<ImageEntry[]> {
  const entries = await readdir(imagesDir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  const images: ImageEntry[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const folder = join(imagesDir, e.name);
    const info = await readManifest(folder);
    if (info) images.push({ ...info, folder });
  }
  return images.sort((a, b) => a.name.localeCompare(b.name));
}

/** The built image called name; not_found (with the command to build it, or the known names) otherwise. */
export async function getImage(imagesDir: string, name: string): Promise<ImageEntry> {
  if (!isRecipe(name) && !/^[\w.-]+$/.test(name)) throw unknownRecipe(name, 'not_found');
  const folder = join(imagesDir, name);
  const info = name.startsWith('.') ? undefined : await readManifest(folder);
  if (info) return { ...info, folder };
  if (!isRecipe(name)) throw unknownRecipe(name, 'not_found');
  throw new LodgeError('not_found', `image "${name}" is not built`, {
    hint: `run: lodge image build ${name}`,
    details: { name, imagesDir },
  });
}

/** Builds in flight per image folder: a second request joins the first (its signal and progress stay the first's). */
const inflight = new Map<string, ReturnType<Recipe>>();

/** Builds the named image with its recipe (a cache hit when already built from the same recipe). */
export async function buildImage(name: string, opts: BuildImageOptions): Promise<{ image: ImageEntry; cached: boolean }> {
  const recipe = isRecipe(name) ? RECIPES[name] : undefined;
  if (!recipe) throw unknownRecipe(name, 'invalid_argument');
  const key = join(opts.imagesDir, name);
  const running = inflight.get(key);
  if (running) return running;
  const build = recipe(opts).finally(() => inflight.delete(key));
  inflight.set(key, build);
  return build;
}

/** Imports a user's disk under a name that is neither a recipe's nor an existing image's (or leftover folder's). */
export async function importImage(o: ImportOptions): Promise<ImageEntry> {
  const { name } = o.request;
  if (isRecipe(name)) {
    throw new LodgeError('conflict', `"${name}" is the name of a built-in recipe; an imported image needs its own name`, {
      hint: `choose another name; taken by recipes: ${KNOWN_RECIPES.join(', ')}`,
      details: { name, known: KNOWN_RECIPES },
    });
  }
  const key = join(o.imagesDir, name);
  const taken = await lstat(key).then(() => true, () => false);
  if (taken || inflight.has(key)) {
    throw new LodgeError('already_exists', `image "${name}" already exists`, { hint: `pick another name, or remove it first: lodge image rm ${name}`, details: { name } });
  }
  const run = importInto(o).then((image) => ({ image, cached: false })).finally(() => inflight.delete(key));
  inflight.set(key, run);
  return (await run).image;
}

/**
 * Removes an image: its folder is first renamed out of sight (so no new VM can be based on it), then
 * `confirmUnused` runs; if it throws, the folder is put back and nothing changed.
 */
export async function removeImage(imagesDir: string, name: string, confirmUnused: () => void): Promise<void> {
  const image = await getImage(imagesDir, name);
  if (inflight.has(image.folder)) throw new LodgeError('conflict', `image "${name}" is being built or imported`, { hint: 'wait for it to finish' });
  const aside = join(imagesDir, `${tempPrefix(name)}rm-${randomBytes(4).toString('hex')}`);
  await rename(image.folder, aside);
  try {
    confirmUnused();
  } catch (err) {
    await rename(aside, image.folder);
    throw err;
  }
  await syncDir(imagesDir);
  await rm(aside, { recursive: true, force: true });
}
