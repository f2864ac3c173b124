import { readFile } from 'node:fs/promises';

/** Resident memory of a process from /proc (VmRSS), 0 once it is gone. */
export async function residentBytes(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(text)?.[1];
  return kib === undefined ? 0 : Number(kib) * 1024;
}

/** user + system CPU time of a process and all its threads, in ns (for hosts without a cgroup per VM). */
export async function processCpuNs(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15 (1-based) in clock ticks.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  return (ticks * 1e9) / CLOCK_TICKS;
}

/** USER_HZ: 100 on every Linux architecture Lodge runs on. */
const CLOCK_TICKS = 100;
