import type { HostUsage, VmSample } from '@lodge/api';
import type { VmRuntime } from '../ports/vm-driver.js';
import type { EventBus } from './event-bus.js';
import type { GuestService, GuestUsage } from './guest-service.js';
import { toVmSample, type CpuMark } from './vm-sample.js';
import type { VmLifecycle } from './vm-lifecycle.js';
import type { VmRecords } from './vm-records.js';

/** Where samples are kept (store/sample-table.ts). */
export interface SampleLog {
  append(samples: readonly VmSample[]): void;
  prune(beforeMs: number): number;
  history(vm: string, opts?: { sinceMs?: number; limit?: number }): VmSample[];
  latest(vm: string): VmSample | undefined;
  forget(vm: string): void;
}

export interface SamplerDeps {
  lifecycle: Pick<VmLifecycle, 'live' | 'runtimeOf'>;
  records: Pick<VmRecords, 'find' | 'get'>;
  guest: Pick<GuestService, 'usage'>;
  samples: SampleLog;
  bus: Pick<EventBus, 'broadcast' | 'subscribe'>;
  /** 0 = sampling off. */
  intervalMs: number;
  retentionMs: number;
  /** How often the guest agent is asked (0 = never); its last answer goes into the samples in between. */
  guestIntervalMs: number;
  now?: () => number;
  onError?: (vm: string, err: unknown) => void;
}

/** Samples every live VM each interval: stores the round in one go, streams it live, prunes past the retention window. */
export class MetricsSampler {
  private readonly marks = new Map<string, CpuMark & { runtime: VmRuntime }>();
  private readonly latestOf = new Map<string, VmSample>();
  private readonly guestOf = new Map<string, GuestUsage & { atMs: number }>();
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;

  constructor(private readonly d: SamplerDeps) {
    this.now = d.now ?? Date.now;
    d.bus.subscribe((ev) => {
      if (ev.type === 'vm.deleted') this.d.samples.forget(ev.vm);
    });
  }

  get enabled(): boolean {
    return this.d.intervalMs > 0;
  }

  start(): void {
    if (!this.enabled || this.timer) return;
    const tick = (): void => {
      this.inFlight = this.round().finally(() => {
        if (this.timer) this.timer = setTimeout(tick, this.d.intervalMs).unref();
      });
    };
    // A timeout chain, not an interval: a slow round (a busy host) delays the next instead of piling up.
    this.timer = setTimeout(tick, 0).unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight.catch(() => undefined);
  }

  /** One round: returns the samples it stored (VMs seen for the first time only get a CPU baseline). */
  async round(): Promise<VmSample[]> {
    const names = this.d.lifecycle.live();
    for (const name of this.marks.keys()) if (!names.includes(name)) this.marks.delete(name);
    for (const name of this.guestOf.keys()) if (!names.includes(name)) this.guestOf.delete(name);
    const taken = await Promise.all(names.map((name) => this.sampleOne(name)));
    const samples = taken.filter((s): s is VmSample => s !== undefined);
    this.d.samples.append(samples);
    this.d.samples.prune(this.now() - this.d.retentionMs);
    for (const s of samples) {
      this.latestOf.set(s.vm, s);
      this.d.bus.broadcast({ type: 'vm.metrics', vm: s.vm, sample: s });
    }
    return samples;
  }

  /** The latest sample of every live VM (from the store right after a daemon restart). */
  latest(): VmSample[] {
    return this.d.lifecycle
      .live()
      .map((name) => this.latestOf.get(name) ?? this.d.samples.latest(name))
      .filter((s): s is VmSample => s !== undefined);
  }

  /** One VM's samples (not_found for an unknown VM). */
  history(vm: string, opts: { sinceMs?: number; limit?: number }): VmSample[] {
    this.d.records.get(vm);
    return this.d.samples.history(vm, opts);
  }

  /** What the running VMs use now, summed; undefined while sampling is off. */
  usage(): HostUsage | undefined {
    if (!this.enabled) return undefined;
    const latest = this.latest();
    const cpuPercent = latest.reduce((t, s) => t + s.cpuPercent, 0);
    return { cpuPercent: Math.round(cpuPercent * 10) / 10, memoryBytes: latest.reduce((t, s) => t + s.qemuRssBytes, 0) };
  }

  private async sampleOne(vm: string): Promise<VmSample | undefined> {
    const runtime = this.d.lifecycle.runtimeOf(vm);
    if (!runtime) return undefined;
    try {
      const [raw, guest] = await Promise.all([runtime.sample(), this.guestUsage(vm)]);
      const atMs = this.now();
      const previous = this.marks.get(vm);
      this.marks.set(vm, { cpuNs: raw.cpuNs, atMs, runtime });
      // A new QEMU (restart) or a counter that went back starts a new baseline rather than a bogus rate.
      if (!previous || previous.runtime !== runtime || raw.cpuNs < previous.cpuNs) return undefined;
      const specCpus = this.d.records.find(vm)?.spec.cpus ?? 0;
      return toVmSample({ vm, atMs, raw, previous, specCpus, guest });
    } catch (err) {
      this.d.onError?.(vm, err); // the VM went away mid-round, or QMP did not answer: skip it this time
      return undefined;
    }
  }

  /** The guest's last answer, asking again once it is guestInterval old (a failed ask keeps the old answer). */
  private async guestUsage(vm: string): Promise<(GuestUsage & { atMs: number }) | undefined> {
    if (this.d.guestIntervalMs <= 0) return undefined;
    const last = this.guestOf.get(vm);
    if (last && this.now() - last.atMs < this.d.guestIntervalMs - this.d.intervalMs / 2) return last;
    const atMs = this.now();
    const usage = await this.d.guest.usage(vm);
    if (usage) this.guestOf.set(vm, { ...usage, atMs });
    return this.guestOf.get(vm);
  }
}
