// A VM's hardware booted by plain qemu-system-x86_64 (no lodged): the baseline boot benchmarks compare against.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const MARKER = 'lodge-micro: init reached';
const TIMEOUT_MS = 60_000;

/** The hardware part of lodge's own QEMU command line: supervision options removed, console on stdout. */
export function rawArgv(cmdlineFile: string): { binary: string; argv: string[] } {
  const all = JSON.parse(readFileSync(cmdlineFile, 'utf8')) as string[];
  const [binary = 'qemu-system-x86_64', ...rest] = all;
  const argv: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] ?? '';
    if (a === '-daemonize' || a === '-S') continue;
    // Devices on the supervision chardevs (the agent ports) go with them.
    if (a === '-device' && /(^|,)chardev=/.test(rest[i + 1] ?? '')) {
      i++;
      continue;
    }
    if (['-name', '-chardev', '-serial', '-mon', '-pidfile'].includes(a)) {
      i++;
      continue;
    }
    argv.push(a);
  }
  return { binary, argv: [...argv, '-serial', 'stdio'] };
}

export async function bootRaw(binary: string, argv: string[]): Promise<number> {
  return (await bootRawTimed(binary, argv)).ms;
}

/** CPU time (user + system) of a process so far, from /proc: steadier than wall time on a busy host. */
function cpuMs(pid: number | undefined): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime in 100 Hz ticks
}

/** Launch → marker: wall time and QEMU's CPU time. */
export function bootRawTimed(binary: string, argv: string[]): Promise<{ ms: number; cpuMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(binary, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`raw boot: no marker in ${TIMEOUT_MS} ms`))), TIMEOUT_MS);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes(MARKER)) return;
      const ms = performance.now() - t0;
      const cpu = cpuMs(child.pid);
      clearTimeout(timer);
      child.once('exit', () => resolve({ ms, cpuMs: cpu }));
      child.kill('SIGKILL');
    });
  });
}

