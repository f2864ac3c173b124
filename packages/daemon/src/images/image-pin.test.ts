import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ImageEntry } from '@lodge/api';
import { MANIFEST_FILE } from './image-manifest.js';
import { pinImage, readPinnedImage } from './image-pin.js';

describe('pinned image files', () => {
  let root: string;
  beforeEach(() => void (root = mkdtempSync(join(tmpdir(), 'lodge-pin-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  /** An image folder as a build publishes it: files, then the manifest. */
  const publish = (folder: string, version: string): ImageEntry => {
    mkdirSync(folder, { recursive: true });
    for (const f of ['disk.qcow2', 'vmlinux', 'initrd.img']) writeFileSync(join(folder, f), `${f} ${version}`);
    const info = { name: 'micro', disk: 'disk.qcow2', kernel: 'vmlinux', initrd: 'initrd.img', kernelCmdline: `v=${version}`, sizeBytes: 1, builtAt: version };
    writeFileSync(join(folder, MANIFEST_FILE), JSON.stringify(info));
    return { ...info, folder };
  };

  it('links the files and manifest; the pin outlives a rebuild (publish by rename) and a removal of the image', async () => {
    const images = join(root, 'images');
    const image = publish(join(images, 'micro'), 'one');
    const vm = join(root, 'vms', 'web');
    mkdirSync(vm, { recursive: true });
    const pinned = await pinImage(image, join(vm, 'image'));
    expect(pinned).toEqual({ ...image, folder: join(vm, 'image') });
    expect(statSync(join(vm, 'image', 'disk.qcow2')).ino).toBe(statSync(join(images, 'micro', 'disk.qcow2')).ino); // a link, no copy

    // A rebuild: the new folder is renamed over the old one.
    publish(join(images, '.micro.tmp'), 'two');
    rmSync(join(images, 'micro'), { recursive: true });
    renameSync(join(images, '.micro.tmp'), join(images, 'micro'));
    expect(await readPinnedImage(join(vm, 'image'))).toMatchObject({ kernelCmdline: 'v=one', folder: join(vm, 'image') });
    for (const f of ['disk.qcow2', 'vmlinux', 'initrd.img']) expect(readFileSync(join(vm, 'image', f), 'utf8')).toBe(`${f} one`);

    rmSync(images, { recursive: true });
    expect(readFileSync(join(vm, 'image', 'disk.qcow2'), 'utf8')).toBe('disk.qcow2 one');
  });

  it('a VM made before pinning has none; a pin never reuses a folder', async () => {
    expect(await readPinnedImage(join(root, 'vms', 'old', 'image'))).toBeUndefined();
    const image = publish(join(root, 'images', 'micro'), 'one');
    mkdirSync(join(root, 'vm'));
    await pinImage(image, join(root, 'vm', 'image'));
    await expect(pinImage(image, join(root, 'vm', 'image'))).rejects.toMatchObject({ code: 'EEXIST' });
  });
});
