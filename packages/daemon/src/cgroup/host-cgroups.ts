import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { folderGroup, ownGroups, v1Mounts } from './cgroup-layout.js';
import { niceCgroups } from './nice-cgroup.js';
import { v1Cgroups } from './v1-cgroup.js';
import { v2Cgroups } from './v2-cgroup.js';
import type { VmCgroups } from './vm-cgroup.js';

export interface HostCgroupsOptions {
  /** From the host probe (host/cgroup-probe.ts). */
  version: 'v1' | 'v2' | 'none';
  writable: boolean;
  note?: string;
  /** The data folder: its groups are kept apart from every other Lodge's. */
  dataRoot: string;
  /** Tests point these at a fake tree. */
  root?: string;
  mountsPath?: string;
  selfPath?: string;
}

/** The VM groups of one data folder, on the kind of cgroups the probe found, under the daemon's own groups. */
export async function hostCgroups(o: HostCgroupsOptions): Promise<VmCgroups> {
  if (o.version === 'none' || !o.writable) return niceCgroups(o.note ?? `cgroup ${o.version} is not writable`);
  const folder = folderGroup(o.dataRoot);
  const own = ownGroups(await readFile(o.selfPath ?? '/proc/self/cgroup', 'utf8').catch(() => ''));
  if (o.version === 'v2') return v2Cgroups(join(o.root ?? '/sys/fs/cgroup', own.get('') ?? '/'), folder);
  const mounts = v1Mounts(await readFile(o.mountsPath ?? '/proc/self/mounts', 'utf8').catch(() => ''));
  const bases: Record<string, string> = {};
  for (const c of ['cpu', 'cpuacct', 'cpuset', 'memory']) {
    const mount = mounts.get(c);
    if (mount !== undefined) bases[c] = join(mount, own.get(c) ?? '/');
  }
  return v1Cgroups(bases, folder);
}
