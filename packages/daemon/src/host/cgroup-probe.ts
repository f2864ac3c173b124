import { mkdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { USED_CONTROLLERS, v1Mounts } from '../cgroup/cgroup-layout.js';

export { v1Mounts };

export interface CgroupProbe {
  version: 'v1' | 'v2' | 'none';
  controllers: string[];
  writable: boolean;
  note?: string;
}

const USED = USED_CONTROLLERS;

/** Which cgroup version is mounted, which of our controllers exist, and whether we may create groups. */
export async function probeCgroups(root = '/sys/fs/cgroup', mountsPath = '/proc/self/mounts'): Promise<CgroupProbe> {
  const v2 = await readText(join(root, 'cgroup.controllers'));
  if (v2 !== undefined) {
    const available = v2.split(/\s+/).filter((c) => c !== '');
    return withWritable('v2', USED.filter((c) => available.includes(c)), root);
  }
  const mounts = v1Mounts((await readText(mountsPath)) ?? '');
  if (mounts.size === 0) {
    return { version: 'none', controllers: [], writable: false, note: 'no cgroup hierarchy mounted: no resource limits; CPU priority falls back to nice' };
  }
  // VM groups are made under the cpu hierarchy first, so that is the one whose writability counts.
  const probeDir = mounts.get('cpu') ?? mounts.get('memory') ?? [...mounts.values()][0] ?? root;
  return withWritable('v1', USED.filter((c) => mounts.has(c)), probeDir);
}

async function withWritable(version: 'v1' | 'v2', controllers: string[], dir: string): Promise<CgroupProbe> {
  const failure = await tryCreateChild(dir);
  if (failure === undefined) return { version, controllers, writable: true };
  const who = process.getuid?.() === 0 ? 'read-only cgroup mount?' : 'not root and no delegation';
  return { version, controllers, writable: false, note: `cgroups not writable (${who}): CPU priority falls back to nice (${failure})` };
}

/** undefined when a uniquely named child group can be created and removed under dir; else why not. */
async function tryCreateChild(dir: string): Promise<string | undefined> {
  const child = join(dir, `lodge-probe-${process.pid}-${randomBytes(3).toString('hex')}`);
  try {
    await mkdir(child);
  } catch (err) {
    return `mkdir ${child}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
  // A leftover empty group is harmless; failing the probe over it is not.
  await rmdir(child).catch(() => undefined);
  return undefined;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}
