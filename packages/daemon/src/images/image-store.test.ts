import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LodgeError, type ImageInfo } from '@lodge/api';
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
    expect(KNOWN_RECIPES).toEqual(['micro', 'debian-12']);
    const err = (await buildImage('toString', { imagesDir: dir }).catch((e: unknown) => e)) as LodgeError;
    expect(err.code).toBe('invalid_argument');
    expect(err.message).toContain('known images: micro');
  });
});
