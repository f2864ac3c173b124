import { readFileSync } from 'node:fs';
import { join } from 'node:path';

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
