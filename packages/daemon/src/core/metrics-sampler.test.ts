import { describe, expect, it, vi } from 'vitest';
import type { LodgeEventRecord, VmSpec } from '@lodge/api';
import type { LimitHit, RuntimeSample, VmRuntime } from '../ports/vm-driver.js';
import { openDatabase } from '../store/database.js';
import { EventTable } from '../store/event-table.js';
import { SampleTable } from '../store/sample-table.js';
import { EventBus } from './event-bus.js';
import type { GuestUsage } from './guest-service.js';
import { forwardLimitHits } from './limit-events.js';
import { MetricsSampler } from './metrics-sampler.js';

/** A runtime whose readings the test sets: the seam the sampler reads through. */
function fakeRuntime(reading: Partial<RuntimeSample> = {}) {
  let exit: () => void = () => undefined;
  const limitListeners = new Set<(hit: LimitHit) => void>();
  const state = { raw: { cpuNs: 0, rssBytes: 300e6, vcpus: 0, disks: [], ...reading } as RuntimeSample, fail: false };
  const runtime = {
    pid: 1,
    exited: new Promise<{ reason: string }>((resolve) => (exit = () => resolve({ reason: 'gone' }))),
    sample: async () => {
      if (state.fail) throw new Error('QMP closed');
      return structuredClone(state.raw);
    },
    onLimit: (l: (hit: LimitHit) => void) => (limitListeners.add(l), () => limitListeners.delete(l)),
  } as unknown as VmRuntime;
  return { runtime, state, exit: () => exit(), hit: (h: LimitHit) => limitListeners.forEach((l) => l(h)), listeners: limitListeners };
}

function setup(opts: { retentionMs?: number; guestIntervalMs?: number } = {}) {
  const db = openDatabase(':memory:');
  const events = new EventTable(db);
  const bus = new EventBus(events);
  const samples = new SampleTable(db);
  const runtimes = new Map<string, VmRuntime>();
  const guestUsage = new Map<string, GuestUsage>();
  let guestAsks = 0;
  let now = Date.parse('2025-01-01T00:00:00Z');
  const errors: string[] = [];
  const spec = (name: string) => ({ name, cpus: 2 }) as VmSpec;
  const sampler = new MetricsSampler({
    lifecycle: { live: () => [...runtimes.keys()], runtimeOf: (n) => runtimes.get(n) },
    records: {
      find: (n) => (runtimes.has(n) ? ({ spec: spec(n) } as never) : undefined),
      get: (n) => ({ spec: spec(n) }) as never,
    },
    guest: { usage: async (vm) => (guestAsks++, guestUsage.get(vm)) },
    samples,
    bus,
    intervalMs: 5000,
    retentionMs: opts.retentionMs ?? 3_600_000,
    guestIntervalMs: opts.guestIntervalMs ?? 5000,
    now: () => now,
    onError: (vm) => errors.push(vm),
  });
  const streamed: LodgeEventRecord[] = [];
  bus.subscribe((ev) => streamed.push(ev));
  return { sampler, runtimes, guestUsage, samples, events, bus, streamed, errors, advance: (ms: number) => (now += ms), asks: () => guestAsks };
}

describe('MetricsSampler', () => {
  it('turns CPU time over wall time into a percentage and leaves unmeasured fields out', async () => {
    const t = setup();
    const a = fakeRuntime({ disks: [{ name: 'root', readBytes: 10, writeBytes: 20, readOps: 1, writeOps: 2 }, { name: 'data', readBytes: 5, writeBytes: 5, readOps: 1, writeOps: 1 }] });
    t.runtimes.set('a', a.runtime);
    expect(await t.sampler.round()).toEqual([]); // first sight: a baseline only
    t.advance(5000);
    a.state.raw.cpuNs += 2.5e9;
    const [s] = await t.sampler.round();
    expect(s).toMatchObject({ vm: 'a', cpuPercent: 50, cpuSeconds: 2.5, vcpus: 2, qemuRssBytes: 300e6, diskReadBytes: 15, diskWriteBytes: 25, diskReadOps: 2, diskWriteOps: 3 });
    for (const absent of ['memoryLimitBytes', 'balloonBytes', 'guestMemTotalBytes', 'netRxBytes', 'netTxBytes']) expect(s).not.toHaveProperty(absent);
  });

  it('takes guest memory and network bytes from the guest, balloon statistics first', async () => {
    const t = setup();
    const a = fakeRuntime({ vcpus: 1, balloonBytes: 256e6 });
    const b = fakeRuntime({ vcpus: 1, guestMem: { totalBytes: 200e6, availableBytes: 100e6 } });
    t.runtimes.set('a', a.runtime).set('b', b.runtime);
    const usage = { memory: { totalBytes: 190e6, availableBytes: 150e6 }, net: { rxBytes: 7, txBytes: 9 } };
    t.guestUsage.set('a', usage).set('b', usage);
    await t.sampler.round();
    t.advance(1000);
    const [sa, sb] = await t.sampler.round();
    expect(sa).toMatchObject({ vcpus: 1, balloonBytes: 256e6, guestMemTotalBytes: 190e6, guestMemAvailableBytes: 150e6, netRxBytes: 7, netTxBytes: 9 });
    expect(sb).toMatchObject({ guestMemTotalBytes: 200e6, guestMemAvailableBytes: 100e6 });
  });

  it('asks the guest only every guestInterval and repeats its last answer, with its time, in between', async () => {
    const t = setup({ guestIntervalMs: 15_000 });
    t.runtimes.set('a', fakeRuntime().runtime);
    t.guestUsage.set('a', { memory: { totalBytes: 2, availableBytes: 1 }, net: { rxBytes: 10, txBytes: 20 } });
    const times: (string | undefined)[] = [];
    for (let i = 0; i < 7; i++) {
      times.push(...(await t.sampler.round()).map((s) => s.guestTime));
      t.advance(5000);
    }
    expect(t.asks()).toBe(3); // at 0, 15 and 30 s
    const at = (s: number): string => new Date(Date.parse('2025-01-01T00:00:00Z') + s * 1000).toISOString();
    expect(times).toEqual([at(0), at(0), at(15), at(15), at(15), at(30)]);
  });

  it('stores each round, streams it live without adding to the event log, and sums host usage', async () => {
    const t = setup();
    const a = fakeRuntime();
    const b = fakeRuntime();
    t.runtimes.set('a', a.runtime).set('b', b.runtime);
    await t.sampler.round();
    for (let i = 0; i < 3; i++) {
      t.advance(5000);
      a.state.raw.cpuNs += 5e9;
      b.state.raw.cpuNs += 1e9;
      await t.sampler.round();
    }
    expect(t.samples.history('a').map((s) => s.cpuPercent)).toEqual([100, 100, 100]);
    expect(t.streamed.filter((e) => e.type === 'vm.metrics')).toHaveLength(6);
    expect(t.events.lastId()).toBe(0);
    expect(t.sampler.usage()).toEqual({ cpuPercent: 120, memoryBytes: 600e6 });
    t.runtimes.delete('b');
    expect(t.sampler.latest().map((s) => s.vm)).toEqual(['a']);
  });

  it('starts a new baseline for a new QEMU of the same VM and skips a VM whose reading fails', async () => {
    const t = setup();
    const a = fakeRuntime({ cpuNs: 50e9 });
    t.runtimes.set('a', a.runtime);
    await t.sampler.round();
    t.runtimes.set('a', fakeRuntime({ cpuNs: 1e9 }).runtime); // restarted: its counter began again
    t.advance(5000);
    expect(await t.sampler.round()).toEqual([]);
    a.state.fail = true;
    t.runtimes.set('a', a.runtime);
    t.advance(5000);
    expect(await t.sampler.round()).toEqual([]);
    expect(t.errors).toEqual(['a']);
  });

  it('prunes past the retention window and forgets a deleted VM', async () => {
    const t = setup({ retentionMs: 12_000 });
    const a = fakeRuntime();
    t.runtimes.set('a', a.runtime);
    for (let i = 0; i < 6; i++) {
      await t.sampler.round();
      t.advance(5000);
    }
    expect(t.samples.history('a').map((s) => Date.parse(s.time) % 60_000)).toEqual([15_000, 20_000, 25_000]); // the last round prunes before 25 s - 12 s
    t.bus.publish({ type: 'vm.deleted', vm: 'a' });
    expect(t.samples.history('a')).toEqual([]);
  });

  it('runs rounds on its own until stopped', async () => {
    vi.useFakeTimers();
    try {
      const t = setup();
      const spy = vi.spyOn(t.sampler, 'round');
      t.sampler.start();
      await vi.advanceTimersByTimeAsync(12_000);
      await t.sampler.stop();
      expect(spy).toHaveBeenCalledTimes(3); // at 0, 5 and 10 s
      await vi.advanceTimersByTimeAsync(20_000);
      expect(spy).toHaveBeenCalledTimes(3);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('forwardLimitHits', () => {
  it('publishes vm.limit while the runtime lives and lets go when it exits', async () => {
    const bus = new EventBus(new EventTable(openDatabase(':memory:')));
    const seen: LodgeEventRecord[] = [];
    bus.subscribe((e) => seen.push(e));
    let watcher: (name: string, rt: VmRuntime) => void = () => undefined;
    forwardLimitHits({ onRuntime: (w) => ((watcher = w), () => undefined) }, bus);
    const a = fakeRuntime();
    watcher('a', a.runtime);
    a.hit({ resource: 'memory', message: 'cgroup memory limit reached' });
    expect(seen).toMatchObject([{ type: 'vm.limit', vm: 'a', resource: 'memory', message: 'cgroup memory limit reached', id: 1 }]);
    a.exit();
    await a.runtime.exited;
    await Promise.resolve();
    expect(a.listeners.size).toBe(0);
  });
});
