import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { folderGroup } from './cgroup-layout.js';
import { fakeTree } from './fake-tree.js';
import { hostCgroups } from './host-cgroups.js';
import { MEMORY_HIGH_GAP } from './v2-cgroup.js';

let root: string;
afterEach(() => rm(root, { recursive: true, force: true }));

/** lodged in /system.slice/lodged.service, which was delegated the controllers it needs. */
async function v2Host() {
  const own = 'system.slice/lodged.service';
  root = await fakeTree({
    'cgroup.controllers': 'cpuset cpu io memory pids',
    [`${own}/cgroup.controllers`]: 'cpuset cpu memory pids',
    [`${own}/cpuset.cpus.effective`]: '0-3',
    'self': `0::/${own}\n`,
  });
  const cgroups = await hostCgroups({ version: 'v2', writable: true, dataRoot: '/tmp/home-a', root, selfPath: join(root, 'self') });
  const dir = join(root, own, ...folderGroup('/tmp/home-a'));
  return { cgroups, own: join(root, own), dir, read: (p: string) => readFile(p, 'utf8') };
}

describe('cgroup v2 VM groups', () => {
  it('hands the controllers down each level and writes weight, cpu.max, cpuset, memory.max and memory.high', async () => {
    const { cgroups, own, dir, read } = await v2Host();
    const group = await cgroups.create('web', { cpu: { weight: 400, maxPercent: 150, pin: '2-3' }, memoryBytes: 1600 * 2 ** 20 });
    await group.addProcess(99);
    expect(await read(join(own, 'cgroup.subtree_control'))).toBe('+cpu +cpuset +memory');
    expect(await read(join(dir, 'web', 'cpu.weight'))).toBe('400');
    expect(await read(join(dir, 'web', 'cpu.max'))).toBe('150000 100000');
    expect(await read(join(dir, 'web', 'cpuset.cpus'))).toBe('2-3');
    expect(await read(join(dir, 'web', 'memory.max'))).toBe(String(1600 * 2 ** 20));
    expect(Number(await read(join(dir, 'web', 'memory.high')))).toBe(Math.floor(1600 * 2 ** 20 * (1 - MEMORY_HIGH_GAP)));
    expect(await read(join(dir, 'web', 'cgroup.procs'))).toBe('99');
  });

  it('clearing quota and pin writes "max" and an empty cpuset (the parent\'s CPUs)', async () => {
    const { cgroups, dir, read } = await v2Host();
    const group = await cgroups.create('web', { cpu: { weight: 100, maxPercent: 50, pin: '1' }, memoryBytes: 2 ** 30 });
    await group.setCpu({ weight: 25 });
    expect(await read(join(dir, 'web', 'cpu.max'))).toBe('max 100000');
    expect(await read(join(dir, 'web', 'cpuset.cpus'))).toBe('');
  });

  it('checks pins against the daemon\'s effective CPUs, and quotas against their count', async () => {
    const { cgroups } = await v2Host();
    await expect(cgroups.create('web', { cpu: { weight: 100, pin: '4' }, memoryBytes: 2 ** 30 })).rejects.toThrow(/CPU 4, which this host does not have \(its CPUs are 0-3\)/);
    await expect(cgroups.create('web', { cpu: { weight: 100, maxPercent: 401 }, memoryBytes: 2 ** 30 })).rejects.toThrow(/1% to 400%/);
  });

  it('reads usage_usec, memory.max and the memory.events counters', async () => {
    const { cgroups, dir } = await v2Host();
    const group = await cgroups.create('web', { cpu: { weight: 100 }, memoryBytes: 2 ** 30 });
    await writeFile(join(dir, 'web', 'cpu.stat'), 'usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n');
    await writeFile(join(dir, 'web', 'memory.events'), 'low 0\nhigh 4\nmax 2\noom 1\noom_kill 1\noom_group_kill 0\n');
    expect(await group.cpuNs()).toBe(2_500_000);
    expect(await group.memoryLimit()).toBe(2 ** 30);
    expect(await group.memoryCounters()).toEqual({ limitHits: 6, oomKills: 1 });
    await writeFile(join(dir, 'web', 'memory.max'), 'max\n');
    expect(await group.memoryLimit()).toBeUndefined();
  });
});
