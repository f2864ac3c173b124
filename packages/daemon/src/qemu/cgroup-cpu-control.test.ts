import { rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LimitHit } from '../ports/vm-driver.js';
import { folderGroup } from '../cgroup/cgroup-layout.js';
import { fakeTree } from '../cgroup/fake-tree.js';
import { hostCgroups } from '../cgroup/host-cgroups.js';
import { CgroupCpuControl } from './cgroup-cpu-control.js';

let root: string;
afterEach(() => rm(root, { recursive: true, force: true }));

/** A v2 VM group in a fake tree, and a way to set its memory.events as the kernel would. */
async function control() {
  root = await fakeTree({ 'cgroup.controllers': 'cpu cpuset memory', 'cpuset.cpus.effective': '0-1', self: '0::/\n' });
  const cgroups = await hostCgroups({ version: 'v2', writable: true, dataRoot: '/tmp/h', root, selfPath: join(root, 'self') });
  const group = await cgroups.create('web', { cpu: { weight: 100 }, memoryBytes: 576 * 2 ** 20 });
  const dir = join(root, ...folderGroup('/tmp/h'), 'web');
  const events = (high: number, max: number, oomKill: number): Promise<void> =>
    writeFile(join(dir, 'memory.events'), `low 0\nhigh ${high}\nmax ${max}\noom ${oomKill}\noom_kill ${oomKill}\n`);
  await events(0, 0, 0);
  return { cpu: await CgroupCpuControl.open(group, process.pid, 20), dir, events };
}

const nextHit = (cpu: CgroupCpuControl): Promise<LimitHit> =>
  new Promise((resolve) => {
    const off = cpu.onLimit((hit) => (off(), resolve(hit)));
  });

describe('CgroupCpuControl', () => {
  it('reports reaching the memory limit, then an OOM kill, as limit hits naming the limit', async () => {
    const { cpu, events } = await control();
    const first = nextHit(cpu);
    await events(3, 0, 0);
    expect(await first).toEqual({ resource: 'memory', message: expect.stringMatching(/reached its host memory limit of 576M .* 3 times/) });
    const second = nextHit(cpu);
    await events(3, 1, 1);
    expect((await second).message).toMatch(/OOM killer killed it/);
  });

  it('dispose says whether the OOM killer killed QEMU since the control was opened', async () => {
    const { cpu, dir, events } = await control();
    await events(0, 5, 1);
    expect(await cpu.dispose()).toEqual({ oomKilled: true });
    // A fake group keeps its plain files, so rmdir cannot remove it here; the e2e test checks removal.
    await expect(stat(dir)).resolves.toBeDefined();
  });

  it('usage is the group\'s CPU time and memory limit', async () => {
    const { cpu, dir } = await control();
    await writeFile(join(dir, 'cpu.stat'), 'usage_usec 7000\n');
    expect(await cpu.usage()).toEqual({ cpuNs: 7_000_000, memoryLimitBytes: 576 * 2 ** 20 });
  });
});
