import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { folderGroup } from '../../packages/daemon/src/cgroup/cgroup-layout.js';

const run = promisify(execFile);

/** Reads a VM's cgroup straight from the kernel's files (not through Lodge), found from its QEMU's /proc/<pid>/cgroup. */
export class VmGroupFiles {
  private readonly paths = new Map<string, string>();

  constructor(readonly pid: number) {
    for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
      const [, controllers = '', path = '/'] = line.split(':');
      for (const c of controllers === '' ? ['unified'] : controllers.split(',')) this.paths.set(c, path);
    }
  }

  /** The group's folder for a controller (v1), or the one v2 folder. */
  dir(controller: string): string {
    const v1 = this.paths.get(controller);
    if (v1 !== undefined) return join('/sys/fs/cgroup', controller, v1);
    return join('/sys/fs/cgroup', this.paths.get('unified') ?? '/');
  }

  read(controller: string, file: string): string {
    return readFileSync(join(this.dir(controller), file), 'utf8').trim();
  }

  /** Cumulative CPU time of the group in seconds: cpuacct.usage on v1, cpu.stat usage_usec on v2. */
  cpuSeconds(): number {
    if (this.paths.has('cpuacct')) return Number(this.read('cpuacct', 'cpuacct.usage')) / 1e9;
    return Number(/usage_usec (\d+)/.exec(this.read('cpu', 'cpu.stat'))?.[1]) / 1e6;
  }
}

/** CPU seconds each group used over `ms` of wall time, per second of wall time. */
export async function cpuRates(groups: VmGroupFiles[], ms: number): Promise<number[]> {
  const before = groups.map((g) => g.cpuSeconds());
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const wall = (performance.now() - t0) / 1000;
  return groups.map((g, i) => (g.cpuSeconds() - (before[i] ?? 0)) / wall);
}

/**
 * Runs fn with the top "lodge" group favoured over the rest of the host (cpu.shares / cpu.weight raised, then
 * restored): on a shared, busy test host a quota can only be measured if the VM can get the CPU it is allowed.
 */
export async function favoured<T>(group: VmGroupFiles, fn: () => Promise<T>): Promise<T> {
  const top = group.dir('cpu').replace(/\/lodge\/.*$/, '/lodge');
  const file = existsSync(join(top, 'cpu.shares')) ? join(top, 'cpu.shares') : join(top, 'cpu.weight');
  const old = readFileSync(file, 'utf8').trim();
  writeFileSync(file, file.endsWith('shares') ? '262144' : '10000');
  try {
    return await fn();
  } finally {
    writeFileSync(file, old);
  }
}

/** Removes every cgroup a test home's lodged made (VM groups, then the folder's group), whatever killed its VMs. */
export async function removeHomeGroups(home: string): Promise<void> {
  const key = folderGroup(home).join('/');
  const found = await run('find', ['/sys/fs/cgroup', '-depth', '-type', 'd', '-path', `*/${key}*`]).catch(() => ({ stdout: '' }));
  for (const dir of found.stdout.split('\n').filter(Boolean)) await rmdir(dir).catch(() => undefined);
}
