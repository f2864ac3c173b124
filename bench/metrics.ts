// Daemon CPU cost of sampling N running VMs: lodged's CPU time from /proc/<pid>/stat over windows with sampling
// on (metrics.interval 5 s) and off (interval 0), alternated, same daemon binary, same VMs, same run.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BenchLodge, median, sleep } from './bench-kit.js';

const VMS = Number(process.env.BENCH_VMS ?? 20);
const WINDOW_S = Number(process.env.BENCH_WINDOW ?? 45);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const INTERVAL_S = 5;
const MEMORY = process.env.BENCH_MEMORY ?? '192M';

/** utime + stime of a process and its threads, in seconds (USER_HZ 100). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function writeConfig(lodge: BenchLodge, intervalS: number): void {
  // Admission would refuse 20 vCPUs on a 2-CPU host at the default 4x CPU overcommit.
  writeFileSync(join(lodge.home, 'config.yaml'), `overcommit:\n  cpu: 16\n  memory: 1.0\nmetrics:\n  interval: ${intervalS}\n`);
}

async function restartWith(lodge: BenchLodge, intervalS: number): Promise<number> {
  await lodge.stopDaemon();
  writeConfig(lodge, intervalS);
  await lodge.start();
  // Re-attaching to 20 VMs on a loaded host can take longer than bench-kit's 10 s wait.
  for (let i = 0; i < 1200; i++) {
    const pong = await lodge.client.ping().catch(() => undefined);
    if (pong) return pong.pid;
    await sleep(100);
  }
  throw new Error('lodged did not come back within 2 minutes');
}

/** lodged's and the QEMUs' CPU use over one window, in percent of one core. */
async function window(lodge: BenchLodge, daemonPid: number, qemuPids: number[]): Promise<{ daemon: number; qemu: number }> {
  await sleep(20_000); // past the re-attach, the agents' reconnects and the first baseline round
  const t0 = performance.now();
  const d0 = cpuSeconds(daemonPid);
  const q0 = qemuPids.reduce((t, p) => t + cpuSeconds(p), 0);
  await sleep(WINDOW_S * 1000);
  const wall = (performance.now() - t0) / 1000;
  const daemon = ((cpuSeconds(daemonPid) - d0) / wall) * 100;
  const qemu = ((qemuPids.reduce((t, p) => t + cpuSeconds(p), 0) - q0) / wall) * 100;
  return { daemon, qemu };
}

async function bootAll(lodge: BenchLodge, names: string[]): Promise<void> {
  for (const name of names) {
    const r = await lodge.lodge(['create', name, '--memory', MEMORY]);
    if (r.code !== 0) throw new Error(`create ${name}: ${r.out}`);
  }
  // Four at a time: 20 TCG boots at once on two cores would take minutes each.
  for (let i = 0; i < names.length; i += 4) {
    const r = await lodge.lodge(['start', ...names.slice(i, i + 4)]);
    if (r.code !== 0) throw new Error(`start: ${r.out}`);
  }
}

async function main(): Promise<void> {
  const lodge = new BenchLodge();
  try {
    writeConfig(lodge, 0);
    await lodge.start('micro');
    const names = Array.from({ length: VMS }, (_, i) => `m${String(i).padStart(2, '0')}`);
    const t0 = performance.now();
    await bootAll(lodge, names);
    const vms = await lodge.client.list();
    const ready = vms.filter((v) => v.guest?.state === 'ready').length;
    process.stdout.write(`${VMS} VMs (${MEMORY}, 1 vCPU) running in ${((performance.now() - t0) / 1000).toFixed(0)} s, ${ready} guest agents ready; settling 30 s\n`);
    await sleep(30_000);
    const qemuPids = vms.map((v) => v.pid ?? 0).filter((p) => p > 0);
    const off: number[] = [];
    const on: number[] = [];
    const qemuOff: number[] = [];
    const qemuOn: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      for (const [intervalS, into, qemuInto] of [[0, off, qemuOff], [INTERVAL_S, on, qemuOn]] as const) {
        const pid = await restartWith(lodge, intervalS);
        const w = await window(lodge, pid, qemuPids);
        into.push(w.daemon);
        qemuInto.push(w.qemu);
        process.stdout.write(`  sampling ${intervalS ? `every ${intervalS} s` : 'off'}: lodged ${w.daemon.toFixed(2)}% of one core, QEMUs ${w.qemu.toFixed(0)}% (${WINDOW_S} s window)\n`);
      }
    }
    const samples = (await lodge.client.stats()).length;
    const cost = median(on) - median(off);
    process.stdout.write(
      `\nlodged CPU, median of ${ROUNDS} windows: sampling off ${median(off).toFixed(2)}%, on ${median(on).toFixed(2)}% of one core\n` +
        `cost of sampling ${VMS} VMs every ${INTERVAL_S} s: ${cost.toFixed(2)}% of one core (target < 2%); on/off ratio ${(median(on) / Math.max(median(off), 0.01)).toFixed(1)}x\n` +
        `per VM per round: ${((cost / 100) * INTERVAL_S * 1000 / VMS).toFixed(2)} ms of daemon CPU; VMs in the last round: ${samples}\n` +
        `QEMUs (guest side, includes the agent's info op; noisy on a shared host): off ${median(qemuOff).toFixed(0)}%, on ${median(qemuOn).toFixed(0)}%\n`,
    );
  } finally {
    await lodge.close();
  }
}

await main();
