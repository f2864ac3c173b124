import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostReport, LodgeEventRecord, VmSample } from '@lodge/api';
import { sleep, TestLodge } from './harness.js';

const VM = 'metered';
const RETENTION_S = 20;

describe('metrics of a real VM: lodge stats, lodge top, /v1/metrics', () => {
  const lodge = new TestLodge();
  const stats = async (since = '1m'): Promise<{ latest: VmSample | null; history: VmSample[] }> =>
    lodge.cliJson(['stats', VM, '--since', since]);
  /** Samples taken after `fromMs` (and up to `toMs`). */
  const cpuBetween = async (fromMs: number, toMs = Infinity): Promise<number[]> =>
    (await stats()).history.filter((s) => Date.parse(s.time) > fromMs && Date.parse(s.time) <= toMs).map((s) => s.cpuPercent);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  /** QEMU's own CPU time from /proc, read by the test: the independent measure the samples must agree with. */
  const qemuCpuSeconds = (pid: number): number => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };
  /** Over `ms`: the mean sampled cpuPercent and QEMU's CPU share measured directly, in percent of one CPU. */
  const measure = async (pid: number, ms: number): Promise<{ sampled: number; direct: number; samples: number[] }> => {
    const [t0, c0] = [Date.now(), qemuCpuSeconds(pid)];
    await sleep(ms);
    const [t1, c1] = [Date.now(), qemuCpuSeconds(pid)];
    await sleep(1500); // the round that covers t1
    // A sample's percentage covers the second before it: keep those wholly inside the window.
    const samples = await cpuBetween(t0 + 1000, t1 + 500);
    return { sampled: mean(samples), direct: ((c1 - c0) / ((t1 - t0) / 1000)) * 100, samples };
  };

  beforeAll(async () => {
    writeFileSync(join(lodge.ensureHome(), 'config.yaml'), `metrics:\n  interval: 1\n  retention: ${RETENTION_S}s\n`);
    await lodge.startDaemon();
    await lodge.bootVm(VM, ['--memory', '256M']);
  }, 180_000);
  afterAll(() => lodge.cleanup());

  it('lodge stats follows a CPU-bound guest up and down again, agreeing with QEMU\'s CPU time in /proc', async () => {
    // The host is shared (other VMs, other tests): the guest's share is checked against what QEMU really got,
    // and against its own idle level, rather than against a full CPU it may not be given.
    const pid = (await lodge.client.get(VM)).pid ?? 0;
    await sleep(5000); // the agent's start-up settles
    const idle = await measure(pid, 6000);
    const r = await lodge.cli(['exec', VM, '--sh', 'while :; do :; done >/dev/null 2>&1 & echo $!']);
    expect(r.code, r.stderr).toBe(0);
    await sleep(2000);
    const busy = await measure(pid, 10_000);
    const kill = await lodge.cli(['exec', VM, '--', 'kill', r.stdout.trim()]);
    expect(kill.code, kill.stderr).toBe(0);
    await sleep(2000);
    const after = await measure(pid, 6000);
    const show = (m: typeof idle): string => `sampled ${m.sampled.toFixed(1)} direct ${m.direct.toFixed(1)} [${m.samples.join(' ')}]`;
    process.stdout.write(`cpuPercent idle: ${show(idle)}\n  busy: ${show(busy)}\n  after: ${show(after)}\n`);
    for (const m of [idle, busy, after]) {
      expect(m.samples.length).toBeGreaterThanOrEqual(3);
      expect(Math.abs(m.sampled - m.direct), show(m)).toBeLessThan(15);
    }
    expect(busy.sampled).toBeGreaterThan(idle.sampled + 20);
    expect(after.sampled).toBeLessThan(busy.sampled - 20);

    const { latest } = await stats();
    expect(latest).toMatchObject({ vm: VM, vcpus: 1 });
    expect(latest?.qemuRssBytes).toBeGreaterThan(50 * 2 ** 20);
    // From the Lodge agent in the guest: its memory as it sees it and its network counters.
    expect(latest?.guestMemTotalBytes).toBeGreaterThan(150 * 2 ** 20);
    expect(latest?.guestMemAvailableBytes).toBeLessThan(latest?.guestMemTotalBytes ?? 0);
    expect(latest?.netRxBytes).toBeGreaterThanOrEqual(0);
    const human = await lodge.cli(['stats', VM]);
    expect(human.stdout).toMatch(/cpu:\s+\d+\.\d% of one host CPU, 1 vCPU/);
    expect(human.stdout).toMatch(/^TIME\s+CPU\s+GUEST MEM/m);
  }, 240_000);

  it('/v1/metrics lists the VM in Prometheus text; lodge top --once shows it; lodge host sums usage', async () => {
    const text = await lodge.client.metricsText();
    expect(text).toMatch(/^# TYPE lodge_vm_cpu_seconds_total counter$/m);
    expect(text).toMatch(new RegExp(`^lodge_vm_cpu_seconds_total\\{vm="${VM}"\\} \\d+(\\.\\d+)?(e[+-]\\d+)?$`, 'm'));
    expect(text).toMatch(new RegExp(`^lodge_vm_network_receive_bytes_total\\{vm="${VM}"\\} \\d+$`, 'm'));

    const top = await lodge.cli(['top', '--once', '--sort', 'name']);
    expect(top.code, top.stderr).toBe(0);
    expect(top.stdout).toMatch(/^NAME\s+CPU\s+VCPUS/m);
    expect(top.stdout).toMatch(new RegExp(`^${VM}\\s+\\d+\\.\\d%\\s+1\\s`, 'm'));
    const bad = await lodge.cli(['top', '--once', '--sort', 'speed']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--sort "speed" is not valid/);

    const host = await lodge.cliJson<HostReport>(['host']);
    expect(host.usage?.memoryBytes).toBeGreaterThan(50 * 2 ** 20);
  }, 60_000);

  it('streams vm.metrics live without storing them in the event log', async () => {
    const events = await lodge.client.events({ vm: VM });
    try {
      let got: LodgeEventRecord | undefined;
      for await (const ev of events) if (ev.type === 'vm.metrics') { got = ev; break; }
      expect(got).toMatchObject({ type: 'vm.metrics', vm: VM, sample: { vm: VM } });
    } finally {
      events.close();
    }
    const db = new Database(join(lodge.home, 'lodge.db'), { readonly: true });
    try {
      const count = (sql: string): number => (db.prepare(sql).get() as { n: number }).n;
      expect(count("SELECT COUNT(*) AS n FROM events WHERE type = 'vm.metrics'")).toBe(0);
      expect(count("SELECT COUNT(*) AS n FROM events WHERE type = 'vm.state'")).toBeGreaterThan(0);
      expect(count(`SELECT COUNT(*) AS n FROM samples WHERE vm = '${VM}'`)).toBeGreaterThan(3);
    } finally {
      db.close();
    }
  }, 30_000);

  it('samples survive a daemon restart, and the window is pruned to the retention', async () => {
    const before = (await stats()).history;
    expect(before.length).toBeGreaterThan(3);
    await lodge.killDaemon();
    const restartedAt = Date.now();
    await lodge.startDaemon();
    const after = (await stats()).history;
    expect(after.map((s) => s.time)).toEqual(expect.arrayContaining(before.slice(-3).map((s) => s.time)));
    await sleep(3000);
    const latest = (await stats()).latest;
    expect(Date.parse(latest?.time ?? '')).toBeGreaterThan(restartedAt);

    await sleep(2000);
    const all = (await lodge.client.vmStats(VM, { since: new Date(0), limit: 100_000 })).map((s) => Date.parse(s.time));
    const oldestAgeS = (Date.now() - Math.min(...all)) / 1000;
    expect(oldestAgeS).toBeLessThan(RETENTION_S + 3); // pruned every round; the test has run far longer than that
    expect(oldestAgeS).toBeGreaterThan(RETENTION_S - 5);
  }, 60_000);

  it('refuses bad stats requests clearly', async () => {
    const unknown = await lodge.cli(['stats', 'nope']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/nope/);
    const since = await lodge.cli(['stats', VM, '--since', 'yesterday']);
    expect(since.code).toBe(2);
    expect(since.stderr).toMatch(/--since: "yesterday" is not a duration/);
    await expect(lodge.client.call('GET', '/v1/vms/metered/stats?limit=0')).rejects.toThrow(/limit="0"/);
  });
});
