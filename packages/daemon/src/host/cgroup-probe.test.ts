import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { probeCgroups, v1Mounts } from './cgroup-probe.js';

let dir: string;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'cgroup-test-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

/** A mounts file naming v1 hierarchies under the fake root, as /proc/self/mounts would. */
async function fakeV1(controllers: string[], create = true): Promise<string> {
  const lines = ['sysfs /sys sysfs rw 0 0', `tmpfs ${dir} tmpfs rw,mode=755 0 0`];
  for (const group of controllers) {
    if (create) await mkdir(join(dir, group));
    lines.push(`cgroup ${join(dir, group).replaceAll(' ', '\\040')} cgroup rw,nosuid,relatime,${group} 0 0`);
  }
  lines.push(`cgroup2 ${join(dir, 'unified')} cgroup2 rw,relatime 0 0`);
  const mounts = join(dir, 'mounts');
  await writeFile(mounts, `${lines.join('\n')}\n`);
  return mounts;
}

describe('probeCgroups', () => {
  it('reads v2 controllers from cgroup.controllers, keeping the ones Lodge uses', async () => {
    await writeFile(join(dir, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
    const result = await probeCgroups(dir, join(dir, 'absent-mounts'));
    expect(result).toEqual({ version: 'v2', controllers: ['cpu', 'cpuset', 'memory', 'io', 'pids'], writable: true });
    expect((await readdir(dir)).filter((n) => n.startsWith('lodge-probe-'))).toEqual([]);
  });

  it('lists v1 hierarchies from the mounts file, co-mounted ones included', async () => {
    const mounts = await fakeV1(['cpu,cpuacct', 'cpuset', 'memory', 'devices', 'blkio', 'pids', 'name=systemd']);
    const result = await probeCgroups(dir, mounts);
    expect(result).toEqual({ version: 'v1', controllers: ['cpu', 'cpuacct', 'cpuset', 'memory', 'blkio', 'pids'], writable: true });
    expect(await readdir(join(dir, 'cpu,cpuacct'))).toEqual([]);
  });

  it('reports v1 as not writable, with the reason, when no child group can be made', async () => {
    const mounts = await fakeV1(['cpu', 'memory'], false);
    const result = await probeCgroups(dir, mounts);
    expect(result).toMatchObject({ version: 'v1', controllers: ['cpu', 'memory'], writable: false });
    expect(result.note).toMatch(/^cgroups not writable \(.*\): CPU priority falls back to nice \(mkdir .*\/cpu\/lodge-probe-\d+-\w+: ENOENT\)$/);
  });

  it('reports none when neither v2 nor v1 hierarchies exist', async () => {
    const mounts = await fakeV1([]);
    const result = await probeCgroups(dir, mounts);
    expect(result).toMatchObject({ version: 'none', controllers: [], writable: false });
    expect(result.note).toContain('CPU priority falls back to nice');
  });
});

describe('v1Mounts', () => {
  it('decodes octal escapes in mount points and ignores cgroup2 and named hierarchies', () => {
    const mounts = v1Mounts('cgroup /a\\040b cgroup rw,memory 0 0\ncgroup2 /u cgroup2 rw 0 0\ncgroup /s cgroup rw,name=systemd 0 0\n');
    expect([...mounts]).toEqual([['memory', '/a b']]);
  });
});
