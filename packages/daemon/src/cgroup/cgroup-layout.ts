import { createHash } from 'node:crypto';
import { resolve } from 'node:path';

/** The cgroup controllers Lodge uses; v1 calls io "blkio". */
export const USED_CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'io', 'blkio', 'pids'];

/**
 * The group of one data folder: every VM's group sits below it, so test homes and users running several
 * Lodges never share (or clean up) each other's groups, even with VMs of the same name.
 */
export function folderGroup(dataRoot: string): string[] {
  return ['lodge', createHash('sha256').update(resolve(dataRoot)).digest('hex').slice(0, 10)];
}

/** Controller name → mount point, for every v1 hierarchy in a /proc/self/mounts style text. */
export function v1Mounts(text: string): Map<string, string> {
  const mounts = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [, mountPoint, fsType, options] = line.split(' ');
    if (fsType !== 'cgroup' || mountPoint === undefined || options === undefined) continue;
    for (const option of options.split(',')) {
      if (USED_CONTROLLERS.includes(option) && !mounts.has(option)) mounts.set(option, unescapeMount(mountPoint));
    }
  }
  return mounts;
}

/** Where a process sits in each hierarchy, from /proc/<pid>/cgroup: controller → path ("" key for v2). */
export function ownGroups(text: string): Map<string, string> {
  const groups = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, controllers = '', path = '/'] = m;
    if (controllers === '') groups.set('', path);
    for (const c of controllers.split(',')) if (c !== '') groups.set(c, path);
  }
  return groups;
}

/** The kernel writes space, tab, newline and backslash in mount points as octal escapes. */
function unescapeMount(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}
