// CPU fairness: two CPU-bound guests pinned to one host CPU with weights 1:1, 3:1, 10:1, then one guest under
// quotas of 25, 50 and 100 %; CPU time is read from the kernel's cgroup files, not from Lodge.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BenchLodge, sleep } from './bench-kit.js';

const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 15_000);
const SPIN = ['--', 'sh', '-c', 'setsid sh -c "while :; do :; done" </dev/null >/dev/null 2>&1 &'];

/** The VM's cgroup folder for a v1 controller (or the v2 folder), from its QEMU's /proc/<pid>/cgroup. */
function groupDir(pid: number, controller: string): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n').map((l) => l.split(':'));
  const v1 = lines.find(([, cs = '']) => cs.split(',').includes(controller));
  return v1 ? join('/sys/fs/cgroup', controller, v1[2] ?? '/') : join('/sys/fs/cgroup', lines.find(([, cs]) => cs === '')?.[2] ?? '/');
}

function cpuSeconds(pid: number): number {
  const acct = join(groupDir(pid, 'cpuacct'), 'cpuacct.usage');
  if (existsSync(acct)) return Number(readFileSync(acct, 'utf8')) / 1e9;
  return Number(/usage_usec (\d+)/.exec(readFileSync(join(groupDir(pid, 'cpu'), 'cpu.stat'), 'utf8'))?.[1]) / 1e6;
}

/** Host CPUs each VM used per second of wall time over the window. */
async function rates(pids: number[]): Promise<number[]> {
  const before = pids.map(cpuSeconds);
  const t0 = performance.now();
  await sleep(WINDOW_MS);
  const wall = (performance.now() - t0) / 1000;
  return pids.map((p, i) => (cpuSeconds(p) - (before[i] ?? 0)) / wall);
}

/** The shared host has other load: the top "lodge" group is favoured while measuring, so quotas can be reached. */
function favourLodge(pid: number): () => void {
  const top = groupDir(pid, 'cpu').replace(/\/lodge\/.*$/, '/lodge');
  const file = existsSync(join(top, 'cpu.shares')) ? join(top, 'cpu.shares') : join(top, 'cpu.weight');
  const old = readFileSync(file, 'utf8').trim();
  writeFileSync(file, file.endsWith('shares') ? '262144' : '10000');
  return () => writeFileSync(file, old);
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const row = (what: string, requested: number, measured: number): string => {
  const error = Math.abs(measured - requested) / requested;
  return `${what.padEnd(22)} requested ${pct(requested).padStart(6)}  measured ${pct(measured).padStart(6)}  error ${pct(error).padStart(5)} ${error <= 0.1 ? 'ok' : 'OVER 10%'}`;
};

async function main(): Promise<void> {
  const lodge = new BenchLodge();
  const ok = async (args: string[]): Promise<void> => {
    const r = await lodge.lodge(args);
    if (r.code !== 0) throw new Error(`lodge ${args.join(' ')}: ${r.out}`);
  };
  let restore = (): void => undefined;
  const groups: string[] = [];
  try {
    await lodge.start('micro');
    const pids: number[] = [];
    const spinning = async (vm: string): Promise<number> => {
      await ok(['create', vm, '--memory', '192M', '--cpu-pin', '1']);
      await ok(['start', vm]);
      await ok(['exec', vm, ...SPIN]);
      const pid = (await lodge.client.get(vm)).pid ?? 0;
      groups.push(...['cpu', 'cpuacct', 'cpuset', 'memory'].map((c) => dirname(groupDir(pid, c))));
      pids.push(pid);
      return pid;
    };
    const a = await spinning('a');
    restore = favourLodge(a);
    console.log(`bench/fairness: CPU-bound micro guests (1 vCPU, TCG), ${WINDOW_MS / 1000} s windows, cgroup CPU time`);
    const [baseline = 0] = await rates([a]);
    console.log(`baseline (same run): one guest alone, no limit, uses ${baseline.toFixed(2)} host CPU`);
    await spinning('b');
    for (const [wa, wb] of [[100, 100], [300, 100], [1000, 100]] as const) {
      await ok(['set', 'a', '--cpu-weight', String(wa)]);
      await ok(['set', 'b', '--cpu-weight', String(wb)]);
      const [ra = 0, rb = 0] = await rates(pids);
      console.log(row(`weights ${wa / 100}:${wb / 100}, share of a`, wa / (wa + wb), ra / (ra + rb)));
    }
    await ok(['stop', 'b', '--force']);
    await ok(['set', 'a', '--cpu-weight', '100', '--cpu-pin', 'none']);
    for (const quota of [25, 50, 100]) {
      await ok(['set', 'a', '--cpu-max', `${quota}%`]);
      const [ra = 0] = await rates([a]);
      console.log(row(`quota ${quota}%, host CPUs`, quota / 100, ra));
    }
  } finally {
    restore();
    await lodge.close();
    // lodged removes VM groups; the data folder's own group goes with the bench's home.
    for (const dir of new Set(groups)) await rmdir(dir).catch(() => undefined);
  }
}

await main();
