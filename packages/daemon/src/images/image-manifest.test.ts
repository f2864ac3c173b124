import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ImageInfo } from '@lodge/api';
import { MANIFEST_FILE, parseManifest, readManifest, recipeHash, writeManifest } from './image-manifest.js';

const SAMPLE_INFO: ImageInfo = {
  name: 'micro',
  kernel: 'vmlinuz',
  initrd: 'initrd.img',
  disk: 'disk.qcow2',
  kernelCmdline: 'console=ttyS0 root=/dev/vda rw',
  kernelVersion: '6.1.0-56-cloud-amd64',
  sizeBytes: 3,
  builtAt: '2025-01-01T00:00:00.000Z',
  recipeHash: 'abc',
  bootMarker: 'lodge-micro: init reached',
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lodge-manifest-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parseManifest', () => {
  it('accepts an ImageInfo and drops extra fields', () => {
    expect(parseManifest(JSON.stringify({ ...SAMPLE_INFO, packages: { a: '1' } }))).toEqual(SAMPLE_INFO);
  });

  it('rejects broken JSON, missing fields and wrong types', () => {
    expect(parseManifest('{"name":')).toBeUndefined();
    expect(parseManifest(JSON.stringify({ ...SAMPLE_INFO, disk: undefined }))).toBeUndefined();
    expect(parseManifest(JSON.stringify({ ...SAMPLE_INFO, kernel: 3 }))).toBeUndefined();
    expect(parseManifest(JSON.stringify({ ...SAMPLE_INFO, sizeBytes: '3' }))).toBeUndefined();
    expect(parseManifest('null')).toBeUndefined();
  });
});

describe('readManifest', () => {
  const files = async (): Promise<void> => {
    for (const f of ['vmlinuz', 'initrd.img', 'disk.qcow2']) await writeFile(join(dir, f), 'x');
  };

  it('returns the manifest written by writeManifest when its files exist, leaving no temp file', async () => {
    await files();
    await writeManifest(dir, SAMPLE_INFO);
    expect(await readManifest(dir)).toEqual(SAMPLE_INFO);
    expect((await readdir(dir)).sort()).toEqual(['disk.qcow2', MANIFEST_FILE, 'initrd.img', 'vmlinuz'].sort());
    expect(JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8'))).toEqual(SAMPLE_INFO);
  });

  it('treats an image whose files are missing or point outside its folder as absent', async () => {
    await writeManifest(dir, SAMPLE_INFO);
    expect(await readManifest(dir)).toBeUndefined();
    await files();
    await writeManifest(dir, { ...SAMPLE_INFO, disk: '../disk.qcow2' });
    expect(await readManifest(dir)).toBeUndefined();
  });

  it('reads an imported image without a kernel (it boots from its disk), but not an initrd without a kernel', async () => {
    await files();
    const imported = { name: 'mine', disk: 'disk.qcow2', kernelCmdline: '', sizeBytes: 1, builtAt: SAMPLE_INFO.builtAt, importedFrom: '/x/disk.raw' };
    await writeManifest(dir, imported);
    expect(await readManifest(dir)).toEqual(imported);
    await writeManifest(dir, { ...imported, initrd: 'initrd.img' });
    expect(await readManifest(dir)).toBeUndefined();
  });

  it('returns undefined for a folder without a manifest', async () => {
    expect(await readManifest(join(dir, 'nope'))).toBeUndefined();
  });
});

describe('recipeHash', () => {
  it('is stable and sensitive to every part and to where parts split', () => {
    expect(recipeHash(['a', 'b'])).toBe(recipeHash(['a', 'b']));
    expect(recipeHash(['a', 'b'])).not.toBe(recipeHash(['a', 'c']));
    expect(recipeHash(['ab', ''])).not.toBe(recipeHash(['a', 'b']));
    expect(recipeHash(['x'])).toMatch(/^[0-9a-f]{64}$/);
  });
});
