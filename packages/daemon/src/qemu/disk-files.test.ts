import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dataFolder } from '../sys/data-folder.js';
import { DiskFiles } from './disk-files.js';

// Against the host's real qemu-img: the files are what QEMU will open.
let root: string;
let files: DiskFiles;
const MiB = 2 ** 20;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'lodge-disk-files-'));
  mkdirSync(join(root, 'vms', 'web'), { recursive: true });
  files = new DiskFiles(dataFolder(root, {}), async () => 'qemu-img');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('DiskFiles', () => {
  it('makes a sparse qcow2 in disks/, grows it offline and removes it', async () => {
    const path = await files.create('web', { name: 'data', size: 64 * MiB });
    expect(path).toBe(join(root, 'vms/web/disks/data.qcow2'));
    const info = await files.info('web', 'data');
    expect(info.sizeBytes).toBe(64 * MiB);
    expect(info.allocatedBytes).toBeLessThan(1 * MiB);
    await files.resize('web', 'data', 128 * MiB);
    expect((await files.info('web', 'data')).sizeBytes).toBe(128 * MiB);
    await files.remove('web', 'data');
    expect(readdirSync(join(root, 'vms/web/disks'))).toEqual([]);
  });

  it('refuses bad input with clear errors and changes nothing', async () => {
    await files.create('web', { name: 'data', size: 64 * MiB });
    await expect(files.create('web', { name: 'data', size: 64 * MiB })).rejects.toMatchObject({ code: 'already_exists', message: expect.stringContaining('already has a disk "data"') });
    await expect(files.create('web', { name: 'root', size: 64 * MiB })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(files.create('web', { name: 'odd', size: 1000 })).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/512-byte sectors, got 1000 bytes/) });
    await expect(files.create('nope', { name: 'data', size: 64 * MiB })).rejects.toMatchObject({ code: 'not_found' });
    await expect(files.resize('web', 'data', 32 * MiB)).rejects.toMatchObject({ code: 'invalid_argument', message: 'disk "data" of VM "web" is 64M; it cannot shrink to 32M' });
    await expect(files.resize('web', 'other', 128 * MiB)).rejects.toMatchObject({ code: 'not_found' });
    await expect(files.remove('web', 'root')).rejects.toMatchObject({ code: 'invalid_argument' });
    expect(readdirSync(join(root, 'vms/web/disks'))).toEqual(['data.qcow2']);
    expect((await files.info('web', 'data')).sizeBytes).toBe(64 * MiB);
  });
});
