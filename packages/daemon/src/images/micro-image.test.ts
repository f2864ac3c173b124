import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeManifest } from './image-manifest.js';
import { INITRAMFS_INIT } from './micro-init.js';
import { buildMicroImage, MICRO_BOOT_MARKER, MICRO_KERNEL_CMDLINE, microRecipeHash } from './micro-image.js';
import { MICRO_ROOT_FILES } from './micro-root.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lodge-micro-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('micro recipe', () => {
  it('has shell scripts that parse', () => {
    const scripts = [INITRAMFS_INIT, ...MICRO_ROOT_FILES.filter((f) => f.text.startsWith('#!/bin/sh')).map((f) => f.text)];
    expect(scripts.length).toBeGreaterThanOrEqual(4);
    for (const text of scripts) execFileSync('sh', ['-n'], { input: text });
  });

  it('prints the boot marker from rcS and boots from /dev/vda on the serial console', () => {
    expect(MICRO_ROOT_FILES.find((f) => f.path === 'etc/init.d/rcS')?.text).toContain(`echo "${MICRO_BOOT_MARKER}"`);
    expect(MICRO_KERNEL_CMDLINE).toMatch(/^console=ttyS0 root=\/dev\/vda rw\b/);
    expect(MICRO_KERNEL_CMDLINE).toContain('panic=-1');
  });

  it('has a stable recipe hash', () => {
    expect(microRecipeHash()).toBe(microRecipeHash());
  });
});

/** A complete micro image folder (placeholder files) built by the given recipe. */
async function builtImage(recipeHash: string) {
  const folder = join(dir, 'micro');
  await mkdir(folder);
  for (const f of ['vmlinuz', 'initrd.img', 'disk.qcow2']) await writeFile(join(folder, f), 'x');
  const info = {
    name: 'micro', kernel: 'vmlinuz', initrd: 'initrd.img', disk: 'disk.qcow2', kernelCmdline: MICRO_KERNEL_CMDLINE,
    kernelVersion: '6.1.0-56-cloud-amd64', sizeBytes: 3, builtAt: new Date().toISOString(), recipeHash, bootMarker: MICRO_BOOT_MARKER,
  };
  await writeManifest(folder, info);
  return { folder, info };
}

describe('buildMicroImage', () => {
  it('returns a current image as cached without running apt or any other program', async () => {
    const { folder, info } = await builtImage(microRecipeHash());
    const path = process.env.PATH;
    process.env.PATH = join(dir, 'no-programs-here'); // any apt-cache / apt-get call would now fail with ENOENT
    try {
      const result = await buildMicroImage({ imagesDir: dir });
      expect(result).toEqual({ cached: true, image: { ...info, folder } });
    } finally {
      process.env.PATH = path;
    }
  });

  it('asks before replacing an image whose recipe changed, and stops with nothing touched when refused', async () => {
    const { folder } = await builtImage('an older recipe');
    const asked: string[] = [];
    const refuse = (why: string): never => {
      asked.push(why);
      throw new Error(`refused: ${why}`);
    };
    await expect(buildMicroImage({ imagesDir: dir, beforeReplace: refuse })).rejects.toThrow('refused: its recipe changed');
    await expect(buildMicroImage({ imagesDir: dir, force: true, beforeReplace: refuse })).rejects.toThrow('refused: a forced rebuild');
    expect(asked).toEqual(['its recipe changed', 'a forced rebuild']);
    expect((await readdir(dir)).sort()).toEqual(['micro']);
    expect((await readdir(folder)).sort()).toEqual(['disk.qcow2', 'image.json', 'initrd.img', 'vmlinuz']);
  });

  it('leaves nothing behind when aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(buildMicroImage({ imagesDir: dir, signal: controller.signal })).rejects.toThrow('stop');
    expect((await readdir(dir)).filter((n) => n !== '.cache')).toEqual([]);
  });
});
