import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hostCgroups } from './host-cgroups.js';
import { fakeTree } from './fake-tree.js';
import { folderGroup } from './cgroup-layout.js';

const OWN = '/process_api/abc';
let root: string;
afterEach(() => rm(root, { recursive: true, force: true }));

/** This machine's layout: cpu and cpuacct apart, lodged nested in the memory hierarchy only. */
async function v1Host(opts: { sharedCpuMount?: boolean } = {}) {
  const cpu = opts.sharedCpuMount ? 'cpu,cpuacct' : 'cpu';
  root = await fakeTree({ [`${cpu}/cpu.shares`]: '1024', 'cpuset/cpuset.cpus': '0-1', 'cpuset/cpuset.mems': '0', [`memory${OWN}/memory.limit_in_bytes`]: '9223372036854771712' });
  if (!opts.sharedCpuMount) await mkdir(join(root, 'cpuacct'));
  const mounts = opts.sharedCpuMount
    ? [`cgroup ${root}/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0`]
    : [`cgroup ${root}/cpu cgroup rw,cpu 0 0`, `cgroup ${root}/cpuacct cgroup rw,cpuacct 0 0`];
  mounts.push(`cgroup ${root}/cpuset cgroup rw,cpuset 0 0`, `cgroup ${root}/memory cgroup rw,memory 0 0`);
  await writeFile(join(root, 'mounts'), mounts.join('\n'));
  await writeFile(join(root, 'self'), `4:memory:${OWN}\n3:cpuset:/\n2:${opts.sharedCpuMount ? 'cpu,cpuacct' : 'cpuacct'}:/\n1:cpu:/\n`);
  const cgroups = await hostCgroups({ version: 'v1', writable: true, dataRoot: '/tmp/home-a', mountsPath: join(root, 'mounts'), selfPath: join(root, 'self') });
  const rel = folderGroup('/tmp/home-a').join('/');
  const read = (p: string): Promise<string> => readFile(join(root, p), 'utf8');
  return { cgroups, rel, read };
}

describe('cgroup v1 VM groups', () => {
  it('makes the group under lodged\'s own group in each hierarchy, with the limits in v1 units', async () => {
    const { cgroups, rel, read } = await v1Host();
    expect(cgroups.mode).toBe('cgroup');
    const group = await cgroups.create('web', { cpu: { weight: 300, maxPercent: 150, pin: '1' }, memoryBytes: 600 * 2 ** 20 });
    await group.addProcess(4242);
    expect(await read(`cpu/${rel}/web/cpu.shares`)).toBe('3072');
    expect(await read(`cpu/${rel}/web/cpu.cfs_quota_us`)).toBe('150000');
    expect(await read(`cpu/${rel}/web/cpu.cfs_period_us`)).toBe('100000');
    expect(await read(`cpuset/${rel}/web/cpuset.cpus`)).toBe('1');
    // Every new cpuset level got its parent's CPUs and memory nodes, or no task could join it.
    expect(await read(`cpuset/lodge/cpuset.mems`)).toBe('0');
    expect(await read(`cpuset/${rel}/cpuset.cpus`)).toBe('0-1');
    expect(await read(`memory${OWN}/${rel}/web/memory.limit_in_bytes`)).toBe(String(600 * 2 ** 20));
    for (const c of ['cpu', 'cpuacct', 'cpuset', `memory${OWN}`]) expect(await read(`${c}/${rel}/web/cgroup.procs`)).toBe('4242');
  });

  it('fills a cpuset level another start made but has not filled yet (two VMs starting at once)', async () => {
    const { cgroups, rel, read } = await v1Host();
    await mkdir(join(root, 'cpuset', rel), { recursive: true });
    await writeFile(join(root, 'cpuset', rel, 'cpuset.cpus'), '');
    await Promise.all(['a', 'b'].map((vm) => cgroups.create(vm, { cpu: { weight: 100 }, memoryBytes: 2 ** 30 })));
    expect(await read(`cpuset/${rel}/cpuset.cpus`)).toBe('0-1');
    for (const vm of ['a', 'b']) expect(await read(`cpuset/${rel}/${vm}/cpuset.mems`)).toBe('0');
  });

  it('weight 1 is 10 shares (×1024/100); no quota is -1; no pin is the parent\'s CPUs', async () => {
    const { cgroups, rel, read } = await v1Host();
    const group = await cgroups.create('web', { cpu: { weight: 300, maxPercent: 50, pin: '0' }, memoryBytes: 2 ** 30 });
    await group.setCpu({ weight: 1 });
    expect(await read(`cpu/${rel}/web/cpu.shares`)).toBe('10');
    expect(await read(`cpu/${rel}/web/cpu.cfs_quota_us`)).toBe('-1');
    expect(await read(`cpuset/${rel}/web/cpuset.cpus`)).toBe('0-1');
  });

  it.each([
    [{ weight: 100, pin: '7' }, /CPU pin "7" names CPU 7, which this host does not have \(its CPUs are 0-1\)/],
    [{ weight: 0 }, /CPU weight 0 is out of range/],
    [{ weight: 100, maxPercent: 0 }, /CPU quota 0% is out of range: this host has 2 CPUs \(0-1\), so 1% to 200%/],
    [{ weight: 100, maxPercent: 250 }, /so 1% to 200%/],
    [{ weight: 100, pin: '1-0' }, /runs backwards/],
  ])('refuses %j live and changes nothing', async (limits, message) => {
    const { cgroups, rel, read } = await v1Host();
    const group = await cgroups.create('web', { cpu: { weight: 300, maxPercent: 50, pin: '1' }, memoryBytes: 2 ** 30 });
    await expect(group.setCpu(limits)).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(message) });
    expect(await read(`cpu/${rel}/web/cpu.shares`)).toBe('3072');
    expect(await read(`cpu/${rel}/web/cpu.cfs_quota_us`)).toBe('50000');
    expect(await read(`cpuset/${rel}/web/cpuset.cpus`)).toBe('1');
  });

  it('refuses bad limits at create before making any group', async () => {
    const { cgroups, rel } = await v1Host();
    await expect(cgroups.create('web', { cpu: { weight: 100, pin: '0-3' }, memoryBytes: 2 ** 30 })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(readFile(join(root, 'cpu', rel, 'web', 'cpu.shares'))).rejects.toThrow();
  });

  it('a write the kernel refuses puts back the values already written', async () => {
    const { cgroups, rel, read } = await v1Host();
    const group = await cgroups.create('web', { cpu: { weight: 300 }, memoryBytes: 2 ** 30 });
    await rm(join(root, 'cpuset', rel, 'web'), { recursive: true }); // cpuset.cpus can no longer be written
    await expect(group.setCpu({ weight: 500, maxPercent: 50 })).rejects.toMatchObject({ code: 'host_unsupported' });
    expect(await read(`cpu/${rel}/web/cpu.shares`)).toBe('3072');
    expect(await read(`cpu/${rel}/web/cpu.cfs_quota_us`)).toBe('-1');
  });

  it('reads CPU time from cpuacct and the memory counters from failcnt and oom_control', async () => {
    const { cgroups, rel } = await v1Host({ sharedCpuMount: true });
    const group = await cgroups.create('web', { cpu: { weight: 100 }, memoryBytes: 2 ** 30 });
    await writeFile(join(root, 'cpu,cpuacct', rel, 'web', 'cpuacct.usage'), '1500000000\n');
    await writeFile(join(root, `memory${OWN}`, rel, 'web', 'memory.failcnt'), '3\n');
    await writeFile(join(root, `memory${OWN}`, rel, 'web', 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n');
    expect(await group.cpuNs()).toBe(1.5e9);
    expect(await group.memoryLimit()).toBe(2 ** 30);
    expect(await group.memoryCounters()).toEqual({ limitHits: 3, oomKills: 1 });
  });

  it('removes only the empty groups of its own data folder when lodged starts', async () => {
    const { cgroups, rel } = await v1Host();
    for (const vm of ['gone', 'other']) await mkdir(join(root, 'cpu', rel, vm), { recursive: true });
    await writeFile(join(root, 'cpu', rel, 'other', 'cgroup.procs'), '77'); // a fake's stand-in for a busy group
    const foreign = join(root, 'cpu', folderGroup('/tmp/home-b').join('/'), 'gone');
    await mkdir(foreign, { recursive: true });
    expect(await cgroups.removeStale()).toEqual(['gone']);
    await expect(readFile(join(root, 'cpu', rel, 'other', 'cgroup.procs'), 'utf8')).resolves.toBe('77');
    await expect(mkdir(foreign)).rejects.toMatchObject({ code: 'EEXIST' });
  });
});
