import { randomBytes } from 'node:crypto';
import { lstat, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LodgeError, type ImageEntry, type ImageRecipe } from '@lodge/api';
import { builtinRecipes } from './builtin-recipes.js';
import { withBuildLock } from './build-lock.js';
import { isNoSpace, noSpaceError } from './build-space.js';
import { tempPrefix } from './image-folder.js';
import { importImage as importInto, type ImportOptions } from './image-import.js';
import { readManifest, syncDir } from './image-manifest.js';
import { buildDebianImage, DEBIAN_IMAGE_NAME } from './debian-image.js';
import { buildMicroImage, type BuildImageOptions } from './micro-image.js';

type Build = (opts: BuildImageOptions) => Promise<{ image: ImageEntry; cached: boolean }>;

const MiB = 2 ** 20;
/** A builder and the room its build takes at its peak: temp folder plus package caches (see docs/internals.md). */
interface Recipe {
  build: Build;
  needBytes: number;
}

/** Room a YAML recipe's build takes: debian-12's plus ~80 MiB per added package (debian-12-dev's 8 took 1.9 GiB in all). */
const recipeNeed = (r: ImageRecipe): number => 1300 * MiB + r.packages.length * 80 * MiB;

const yamlRecipe = (r: ImageRecipe): Recipe => ({ build: (o) => buildDebianImage(o, r), needBytes: recipeNeed(r) });

/** The code-defined builders and the YAML recipes shipped in packages/daemon/recipes. */
const RECIPES: Record<string, Recipe> = {
  micro: { build: buildMicroImage, needBytes: 600 * MiB }, // measured peak 533 MiB, caches included
  [DEBIAN_IMAGE_NAME]: { build: buildDebianImage, needBytes: 1300 * MiB },
  ...Object.fromEntries([...builtinRecipes().values()].map((r) => [r.name, yamlRecipe(r)])),
};

/** Names of the images Lodge knows how to build. */
export const KNOWN_RECIPES: readonly string[] = Object.keys(RECIPES);

function isRecipe(name: string): boolean {
  return Object.hasOwn(RECIPES, name);
}

function unknownRecipe(name: string, code: 'invalid_argument' | 'not_found'): LodgeError {
  return new LodgeError(code, `unknown image "${name}"; known images: ${KNOWN_RECIPES.join(', ')}`, {
    hint: `build a known one (lodge image build ${KNOWN_RECIPES[0] ?? 'micro'}), or one of your own: lodge image build --recipe FILE.yaml`,
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
const inflight = new Map<string, ReturnType<Build>>();

/** A recipe the user gave whole: its name must be free of built-in recipes and of imported images. */
async function givenRecipe(imagesDir: string, name: string, recipe: ImageRecipe): Promise<Recipe> {
  if (recipe.name !== name) throw new LodgeError('invalid_argument', `the recipe is named "${recipe.name}", not "${name}"`, { hint: `build it as: lodge image build --recipe FILE (the image is called ${recipe.name})` });
  if (isRecipe(name)) {
    throw new LodgeError('conflict', `"${name}" is the name of a built-in recipe; a recipe of your own needs its own name`, {
      hint: `rename it in the file (name: my-${name}), or build the built-in one: lodge image build ${name}`,
      details: { name, known: KNOWN_RECIPES },
    });
  }
  const existing = await readManifest(join(imagesDir, name));
  if (existing?.importedFrom !== undefined) {
    throw new LodgeError('conflict', `image "${name}" was imported from ${existing.importedFrom}; a recipe build would replace it`, { hint: `give the recipe another name, or remove the image first: lodge image rm ${name}` });
  }
  return yamlRecipe(recipe);
}

/**
 * Builds the named image with its recipe (a cache hit when already built from the same recipe): a built-in one,
 * or `recipe` when given. A build that runs out of room says where, at which step, and how much it needs. Another
 * process building the same image in the same folder is waited for.
 */
export async function buildImage(name: string, opts: BuildImageOptions & { recipe?: ImageRecipe }): Promise<{ image: ImageEntry; cached: boolean }> {
  const { recipe: given, ...rest } = opts;
  const recipe = given ? await givenRecipe(opts.imagesDir, name, given) : isRecipe(name) ? RECIPES[name] : undefined;
  if (!recipe) throw unknownRecipe(name, 'invalid_argument');
  const key = join(opts.imagesDir, name);
  const running = inflight.get(key);
  if (running) return running;
  let step = '';
  const onProgress: BuildImageOptions['onProgress'] = (p) => ((step = p.step), opts.onProgress?.(p));
  const onWait = (pid: number): void => opts.onProgress?.({ step: `waiting for another process's build of ${name} (pid ${pid})` });
  const build = withBuildLock({ imagesDir: opts.imagesDir, name, signal: opts.signal, onWait }, () => recipe.build({ ...rest, onProgress }))
    .catch(async (err: unknown) => {
      throw isNoSpace(err) ? await noSpaceError(err, { name, imagesDir: opts.imagesDir, step, needBytes: recipe.needBytes }) : err;
    })
    .finally(() => inflight.delete(key));
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
