import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LodgeError, type ImageImportRequest } from '@lodge/api';
import { MANIFEST_FILE } from './image-manifest.js';
import { getImage, importImage, removeImage } from './image-store.js';

// Real qemu-img on small files made here: the checks are only worth what qemu-img really reports.
let dir: string;
let images: string;
const qemuImg = (...args: string[]): string => execFileSync('qemu-img', args, { encoding: 'utf8' });

/** 1 MiB raw disk whose first sector carries the 0x55AA boot signature. */
async function rawDisk(name = 'disk.raw'): Promise<string> {
  const buf = Buffer.alloc(2 ** 20);
  buf.writeUInt16LE(0xaa55, 510);
  buf.fill(0x5a, 4096, 8192); // some data for the copy to carry
  await writeFile(join(dir, name), buf);
  return join(dir, name);
}

const run = (request: Partial<ImageImportRequest> & { file: string }): Promise<unknown> =>
  importImage({ imagesDir: images, request: { name: 'mine', ...request }, onProgress: () => undefined });

async function refusal(request: Partial<ImageImportRequest> & { file: string }): Promise<LodgeError> {
  const err = await run(request).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(LodgeError);
  expect(await readdir(images)).toEqual([]); // nothing half-written left in the store
  return err as LodgeError;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lodge-import-'));
  images = join(dir, 'images');
  execFileSync('mkdir', [images]);
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('importImage', () => {
  it('copies a raw disk in as qcow2, with the manifest naming the file and no kernel', async () => {
    const file = await rawDisk();
    await run({ file });
    expect((await readdir(images)).sort()).toEqual(['mine']);
    expect((await readdir(join(images, 'mine'))).sort()).toEqual(['disk.qcow2', MANIFEST_FILE]);
    const image = await getImage(images, 'mine');
    expect(image).toMatchObject({ name: 'mine', disk: 'disk.qcow2', importedFrom: file, kernelCmdline: '' });
    expect(image.kernel).toBeUndefined();
    expect(JSON.parse(qemuImg('info', '--output=json', join(images, 'mine/disk.qcow2')))).toMatchObject({ format: 'qcow2', 'virtual-size': 2 ** 20 });
    qemuImg('compare', '-f', 'raw', '-F', 'qcow2', file, join(images, 'mine/disk.qcow2')); // throws when the data differs
  });

  it('imports a qcow2 with a kernel and initrd for direct boot', async () => {
    const qcow2 = join(dir, 'disk.qcow2');
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', await rawDisk(), qcow2);
    const kernel = Buffer.alloc(0x400);
    kernel.write('HdrS', 0x202, 'latin1');
    kernel.writeUInt16LE(0x100, 0x20e);
    kernel.write('6.1.0-28-cloud-amd64 #1\0', 0x300, 'latin1');
    await writeFile(join(dir, 'vmlinuz'), kernel);
    await writeFile(join(dir, 'initrd'), 'initrd bytes');
    await run({ file: qcow2, kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd'), cmdline: 'console=ttyS0 root=/dev/vda' });
    const image = await getImage(images, 'mine');
    expect(image).toMatchObject({ kernel: 'vmlinuz', initrd: 'initrd.img', kernelVersion: '6.1.0-28-cloud-amd64', kernelCmdline: 'console=ttyS0 root=/dev/vda' });
    expect(await readFile(join(images, 'mine/initrd.img'), 'utf8')).toBe('initrd bytes');
  });

  it('refuses a qcow2 whose backing file points at a host file', async () => {
    const file = join(dir, 'evil.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', '/etc/hostname', '-F', 'raw', file);
    expect((await refusal({ file })).message).toMatch(/backing file/);
  });

  it('refuses a qcow2 with an external data file', async () => {
    const file = join(dir, 'df.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', `data_file=${join(dir, 'data.raw')}`, file, '1M');
    expect((await refusal({ file })).message).toMatch(/external data file/);
  });

  it('refuses a truncated qcow2', async () => {
    const raw = join(dir, 'full.raw');
    await writeFile(raw, Buffer.alloc(3 * 2 ** 20, 0x61));
    const file = join(dir, 'cut.qcow2');
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', raw, file);
    await truncate(file, 2 ** 20);
    expect((await refusal({ file })).message).toMatch(/corruption|truncated/);
  });

  it('refuses a file that is not a disk image, one that is missing, and a kernel that is not a kernel', async () => {
    await writeFile(join(dir, 'notes.txt'), 'just some notes\n');
    expect((await refusal({ file: join(dir, 'notes.txt') })).message).toMatch(/not a disk image/);
    expect((await refusal({ file: join(dir, 'nope.raw') })).message).toBe(`file ${join(dir, 'nope.raw')} does not exist`);
    const err = await refusal({ file: await rawDisk(), kernel: join(dir, 'notes.txt') });
    expect(err.message).toMatch(/is not a Linux kernel/);
  });

  it('refuses a recipe name and an existing image, leaving the existing one alone', async () => {
    const file = await rawDisk();
    expect((await refusal({ file, name: 'micro' })).code).toBe('conflict');
    await run({ file });
    const again = await run({ file }).then(() => undefined, (e: unknown) => e as LodgeError);
    expect(again?.code).toBe('already_exists');
    expect(await readdir(images)).toEqual(['mine']);
  });
});

describe('removeImage', () => {
  it('keeps the image when confirmUnused throws, and removes it otherwise', async () => {
    await run({ file: await rawDisk() });
    const inUse = new LodgeError('conflict', 'used by web');
    await expect(removeImage(images, 'mine', () => { throw inUse; })).rejects.toBe(inUse);
    expect((await getImage(images, 'mine')).name).toBe('mine');
    await removeImage(images, 'mine', () => undefined);
    expect(await readdir(images)).toEqual([]);
    await expect(removeImage(images, 'mine', () => undefined)).rejects.toMatchObject({ code: 'not_found' });
  });
});
