import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readdir } from 'node:fs/promises';
import { ImageRecipe, LodgeError, type ImageInfo } from '@lodge/api';
import { writeManifest } from './image-manifest.js';
import { buildImage, getImage, KNOWN_RECIPES, listImages } from './image-store.js';

const info = (name: string): ImageInfo => ({
  name,
  kernel: 'vmlinuz',
  initrd: 'initrd.img',
  disk: 'disk.qcow2',
  kernelCmdline: 'console=ttyS0',
  kernelVersion: '6.1.0-56-cloud-amd64',
  sizeBytes: 3,
  builtAt: '2025-01-01T00:00:00.000Z',
  recipeHash: 'abc',
  bootMarker: 'marker',
});

let dir: string;
async function image(folder: string, manifest: ImageInfo | string | undefined): Promise<void> {
  await mkdir(join(dir, folder), { recursive: true });
  for (const f of ['vmlinuz', 'initrd.img', 'disk.qcow2']) await writeFile(join(dir, folder, f), 'x');
  if (typeof manifest === 'string') await writeFile(join(dir, folder, 'image.json'), manifest);
  else if (manifest) await writeManifest(join(dir, folder), manifest);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lodge-images-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('listImages', () => {
  it('lists complete images and skips temp, cache, broken and manifest-less folders', async () => {
    await image('micro', info('micro'));
    await image('other', info('other'));
    await image('.micro.tmp-abc123', info('micro'));
    await image('.cache', info('cache'));
    await image('broken', '{"name": "broken"');
    await image('invalid', JSON.stringify({ name: 'invalid' }));
    await image('unfinished', undefined);
    await writeFile(join(dir, 'stray-file'), 'x');
    const images = await listImages(dir);
    expect(images.map((i) => i.name)).toEqual(['micro', 'other']);
    expect(images[0]?.folder).toBe(join(dir, 'micro'));
  });

  it('returns nothing when the images folder does not exist yet', async () => {
    expect(await listImages(join(dir, 'missing'))).toEqual([]);
  });
});

describe('getImage', () => {
  it('returns a built image with its folder', async () => {
    await image('micro', info('micro'));
    expect(await getImage(dir, 'micro')).toMatchObject({ name: 'micro', folder: join(dir, 'micro') });
  });

  it('says how to build a known recipe that is not built', async () => {
    const err = await getImage(dir, 'micro').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LodgeError);
    expect(err).toMatchObject({ code: 'not_found', message: 'image "micro" is not built', hint: 'run: lodge image build micro' });
  });

  it('lists the known recipes for an unknown name, including path-like ones', async () => {
    for (const name of ['nope', '../micro', '.cache']) {
      const err = (await getImage(dir, name).catch((e: unknown) => e)) as LodgeError;
      expect(err.code).toBe('not_found');
      expect(err.message).toContain('known images: micro');
    }
  });
});

describe('buildImage', () => {
  it('rejects an unknown recipe with invalid_argument, listing the known ones', async () => {
    expect(KNOWN_RECIPES).toEqual(['micro', 'debian-12', 'debian-12-dev', 'debian-12-grub']);
    const err = (await buildImage('toString', { imagesDir: dir }).catch((e: unknown) => e)) as LodgeError;
    expect(err.code).toBe('invalid_argument');
    expect(err.message).toContain('known images: micro');
  });
});

describe('buildImage with a recipe given whole', () => {
  const recipe = (fields: Record<string, unknown>): ImageRecipe => ImageRecipe.parse({ name: 'mine', ...fields });
  const fails = (name: string, r: ImageRecipe) => buildImage(name, { imagesDir: dir, recipe: r }).then(() => undefined, (e: unknown) => e as LodgeError);

  it('refuses a recipe whose name is not the image name, or is a built-in recipe\'s, or an imported image\'s', async () => {
    expect(await fails('other', recipe({}))).toMatchObject({ code: 'invalid_argument', message: 'the recipe is named "mine", not "other"' });
    expect(await fails('debian-12-dev', recipe({ name: 'debian-12-dev' }))).toMatchObject({ code: 'conflict', message: expect.stringContaining('built-in recipe') });
    await image('mine', { ...info('mine'), importedFrom: '/tmp/x.qcow2' });
    expect(await fails('mine', recipe({}))).toMatchObject({ code: 'conflict', message: expect.stringContaining('imported from /tmp/x.qcow2') });
  });

  it('fails at once naming every package apt does not know, with nothing left in the store', async () => {
    const err = await fails('mine', recipe({ packages: ['less', 'no-such-package-lodge', 'mail-transport-agent'] }));
    expect(err).toMatchObject({ code: 'image_unavailable', details: { packages: ['no-such-package-lodge', 'mail-transport-agent'] } });
    expect(err?.message).toBe('image recipe "mine": Debian packages "no-such-package-lodge", "mail-transport-agent" are not available from apt');
    expect((await readdir(dir)).filter((n) => n !== '.cache')).toEqual([]);
  });
});
