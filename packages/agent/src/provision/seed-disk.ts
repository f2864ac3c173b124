// Finds the NoCloud seed disk (label, else virtio serial "cidata"), mounts it read-only, reads its two files.

import { mkdir, mkdtemp, open, readdir, readFile, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CIDATA_FILES, CIDATA_LABEL } from '@lodge/api/guest';
import { at, runChecked, type GuestSystem } from './guest-system.js';
import { SeedError } from './shape-check.js';

export interface SeedFiles {
  device: string;
  metaData: string;
  userData: string;
}

/** The seed holds at most 4 MiB of files and scripts; base64 and JSON escaping make that larger. */
const SEED_FILE_MAX_BYTES = 16 * 2 ** 20;

/** The seed's device (a guest path), or undefined when the VM has none. */
export async function findSeedDevice(system: Pick<GuestSystem, 'root'>): Promise<string | undefined> {
  const byLabel = `/dev/disk/by-label/${CIDATA_LABEL}`;
  if (await stat(at(system, byLabel)).catch(() => undefined)) return byLabel;
  // udev may not have made the link yet; sysfs has the disk as soon as virtio_blk probed it.
  const block = at(system, '/sys/block');
  for (const name of (await readdir(block).catch(() => [] as string[])).sort()) {
    const serial = await readFile(join(block, name, 'serial'), 'utf8').catch(() => '');
    if (serial.trim() === CIDATA_LABEL) return `/dev/${name}`;
  }
  return undefined;
}

async function readBounded(path: string, what: string): Promise<string> {
  const file = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new SeedError(`the seed has no ${what} (${err.code ?? err.message})`);
  });
  try {
    const size = (await file.stat()).size;
    if (size > SEED_FILE_MAX_BYTES) throw new SeedError(`the seed's ${what} is ${size} bytes; at most ${SEED_FILE_MAX_BYTES}`);
    return await file.readFile('utf8');
  } finally {
    await file.close();
  }
}

/** Mounts the seed at a private folder under /run/lodge, reads meta-data and user-data, and unmounts it. */
export async function readSeed(system: GuestSystem, device: string): Promise<SeedFiles> {
  const base = at(system, '/run/lodge');
  await mkdir(base, { recursive: true, mode: 0o755 });
  const mountpoint = await mkdtemp(join(base, 'seed-'));
  try {
    await runChecked(system, ['mount', '-t', 'iso9660', '-o', 'ro,nodev,nosuid,noexec', at(system, device), mountpoint]);
    try {
      return {
        device,
        metaData: await readBounded(join(mountpoint, CIDATA_FILES.metaData), CIDATA_FILES.metaData),
        userData: await readBounded(join(mountpoint, CIDATA_FILES.userData), CIDATA_FILES.userData),
      };
    } finally {
      await runChecked(system, ['umount', mountpoint]);
    }
  } finally {
    await rmdir(mountpoint).catch(() => undefined);
  }
}
