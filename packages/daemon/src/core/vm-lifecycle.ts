import { LodgeError, StartOptions, type Capacity, type ImageEntry, type Operation, type Progress, type VmSpec, type VmState } from '@lodge/api';
import { finishFirstBoot } from './first-boot-start.js';
import { admit, capacityOf, type Overcommit } from './admission.js';
import { awaitGuestReadiness } from './guest-readiness.js';
import type { GuestService } from './guest-service.js';
import type { OperationContext, Operations } from './operations.js';
import { assertAllowed } from './state-table.js';
import type { HostPort, ImageCatalog, VmDriver, VmRuntime } from '../ports/vm-driver.js';
import type { VmRecord } from '../store/vm-table.js';
import type { VmRecords } from './vm-records.js';
import { parseOrThrow } from './validate.js';
import { guestPowerOff, shutdownRuntime } from './vm-shutdown.js';

type GuestWait = { wait: boolean; readyTimeout: number };
const DEFAULT_WAIT: GuestWait = StartOptions.parse({});

export interface LifecycleDeps {
  records: VmRecords;
  ops: Operations;
  driver: VmDriver;
  images: ImageCatalog;
  host: HostPort;
  guest: GuestService;
  overcommit: Overcommit;
  stopTimeout: number;
}

/** Start, stop, restart, pause, resume and re-attach; owns the runtime of every live VM. */
export class VmLifecycle {
  private readonly runtimes = new Map<string, VmRuntime>();
  private readonly starting = new Map<string, { abort: AbortController; done: Promise<unknown> }>();
  /** Why we stopped a VM, so its exit is reported as that rather than as a bare QEMU exit. */
  private readonly stopReasons = new Map<string, string>();
  private readonly runtimeWatchers = new Set<(name: string, runtime: VmRuntime) => void>();

  constructor(private readonly d: LifecycleDeps) {}

  async capacity(): Promise<Capacity> {
    const res = await this.d.host.resources();
    return capacityOf(this.d.records.active().map((r) => r.spec), res, this.d.overcommit, this.d.records.list().length);
  }

  async start(name: string, options: StartOptions = {}): Promise<Operation> {
    const wait = parseOrThrow(StartOptions, options, 'start options');
    const rec = this.d.records.get(name);
    assertAllowed('start', rec.state, name);
    this.d.records.transition(name, 'starting'); // synchronously, so a concurrent start sees "starting" and loses
    try {
      await this.admit(rec.spec);
    } catch (err) {
      this.d.records.transition(name, rec.state, { reason: rec.stateReason });
      throw err;
    }
    return this.d.ops.run('start', name, (ctx) => this.boot(rec.spec, ctx, wait));
  }

  async stop(name: string, opts: { force: boolean; timeout?: number }): Promise<Operation> {
    const rec = this.d.records.get(name);
    assertAllowed('stop', rec.state, name);
    const pending = this.starting.get(name);
    if (pending) {
      this.stopReasons.set(name, 'start cancelled by stop');
      pending.abort.abort(new LodgeError('conflict', `start of "${name}" was cancelled by a stop`));
      return this.d.ops.run('stop', name, async () => void (await pending.done.catch(() => undefined)));
    }
    const runtime = this.runtimes.get(name);
    if (!runtime) {
      this.d.records.transition(name, 'stopped', { reason: 'no QEMU process was attached', pid: null });
      return this.d.ops.run('stop', name, async () => undefined);
    }
    this.d.records.transition(name, 'stopping');
    return this.d.ops.run('stop', name, (ctx) => this.shutdown(name, runtime, { ...opts, from: rec.state }, ctx));
  }

  async restart(name: string): Promise<Operation> {
    const rec = this.d.records.get(name);
    assertAllowed('restart', rec.state, name);
    const runtime = this.mustRuntime(name);
    this.d.records.transition(name, 'stopping');
    return this.d.ops.run('restart', name, async (ctx) => {
      await this.shutdown(name, runtime, { force: false, from: rec.state }, ctx);
      this.d.records.transition(name, 'starting');
      try {
        await this.admit(rec.spec);
      } catch (err) {
        this.d.records.transition(name, 'stopped', { reason: `restart refused: ${(err as Error).message}` });
        throw err;
      }
      await this.boot(rec.spec, ctx, DEFAULT_WAIT);
    });
  }

  async pause(name: string): Promise<void> {
    assertAllowed('pause', this.d.records.get(name).state, name);
    await this.mustRuntime(name).pause();
    this.d.records.transition(name, 'paused');
  }

  async resume(name: string): Promise<void> {
    assertAllowed('resume', this.d.records.get(name).state, name);
    await this.mustRuntime(name).resume();
    this.d.records.transition(name, 'running');
    this.d.guest.resumed(name);
  }

  /** For delete --force: ends the VM whatever its state and waits for QEMU to be gone. */
  async kill(name: string): Promise<void> {
    const pending = this.starting.get(name);
    if (pending) {
      this.stopReasons.set(name, 'deleted');
      pending.abort.abort(new LodgeError('conflict', `start of "${name}" was cancelled by a delete`));
      await pending.done.catch(() => undefined);
    }
    const runtime = this.runtimes.get(name);
    if (!runtime) return;
    this.stopReasons.set(name, 'killed');
    await runtime.kill();
    await runtime.exited;
  }

  /** At daemon start: re-attach to every VM an earlier daemon left running, or record why it is gone. */
  async recover(): Promise<void> {
    // Each VM at once: one whose QMP socket is held (attach waits 2 s for it) must not hold up the others.
    const settled = await Promise.allSettled(this.d.records.active().map((rec) => this.reattach(rec)));
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async reattach(rec: VmRecord): Promise<void> {
    const found = await this.d.driver.attach(rec.name, rec.pid);
    if ('gone' in found) {
      const reason = rec.state === 'starting' ? 'lodged stopped while the VM was starting' : found.gone;
      this.d.records.transition(rec.name, 'stopped', { reason, pid: null });
      return;
    }
    if (rec.state === 'starting') {
      // Its start never finished (QEMU may still sit paused before cont): end it rather than guess.
      await found.kill();
      await found.exited;
      this.d.records.transition(rec.name, 'stopped', { reason: 'lodged stopped while the VM was starting; its QEMU was ended', pid: null });
      return;
    }
    // As at start: a built image carries the Lodge agent, so requests soon after the re-attach wait for it.
    this.adopt(rec.name, found, await this.carriesAgent(rec.spec));
    // QEMU that does not answer on QMP yet keeps its recorded state; the runtime reports it once QMP answers.
    const state = await found.status().catch(() => (rec.state === 'paused' ? 'paused' : 'running'));
    this.d.records.transition(rec.name, state, { pid: found.pid, vsockCid: found.vsockCid });
  }

  /** The live QEMU of a running or paused VM, if any (for live changes and sampling). */
  runtimeOf(name: string): VmRuntime | undefined {
    return this.runtimes.get(name);
  }

  /** Told of every runtime adopted from now on (start, restart, re-attach); a runtime's `exited` says when it goes. */
  onRuntime(watcher: (name: string, runtime: VmRuntime) => void): () => void {
    this.runtimeWatchers.add(watcher);
    return () => this.runtimeWatchers.delete(watcher);
  }

  /** Names of VMs with a live QEMU. */
  live(): string[] {
    return [...this.runtimes.keys()];
  }

  detachAll(): void {
    this.d.guest.closeAll();
    for (const runtime of this.runtimes.values()) runtime.detach();
    this.runtimes.clear();
  }

  /** Admission for a live increase: the VM's new spec against everything else that is active. */
  admitChange = (spec: VmSpec): Promise<void> => this.admit(spec, 'change');

  private async admit(spec: VmSpec, action: 'start' | 'change' = 'start'): Promise<void> {
    const res = await this.d.host.resources();
    const active = this.d.records.active(spec.name).map((r) => r.spec);
    admit(spec, capacityOf(active, res, this.d.overcommit, this.d.records.list().length), res, action);
  }

  private async boot(spec: VmSpec, ctx: OperationContext, wait: GuestWait): Promise<void> {
    const abort = new AbortController();
    let image: ImageEntry | undefined;
    const done = (async () => {
      ctx.progress({ step: 'preparing', percent: 5 });
      image = await this.imageOf(spec);
      const { accelerator, vsock } = await this.d.host.info();
      const runtime = await this.d.driver.launch({ spec, image, accelerator, vsock: vsock?.available === true, signal: abort.signal, onProgress: (p) => ctx.progress(p) });
      this.adopt(spec.name, runtime, image?.recipeHash !== undefined);
      this.d.records.transition(spec.name, 'running', { pid: runtime.pid, vsockCid: runtime.vsockCid });
    })();
    this.starting.set(spec.name, { abort, done });
    try {
      await done;
    } catch (err) {
      const reason = this.stopReasons.get(spec.name) ?? `start failed: ${(err as Error).message}`;
      this.stopReasons.delete(spec.name);
      this.d.records.transition(spec.name, 'stopped', { reason, pid: null });
      throw err;
    } finally {
      this.starting.delete(spec.name);
    }
    // Outside the starting window: a stop during the wait is an ordinary stop of a running VM.
    if (!wait.wait) return;
    const stateOf = (): VmState | undefined => this.d.records.find(spec.name)?.state;
    const progress = (p: Progress): void => ctx.progress(p);
    const via = await awaitGuestReadiness({ guest: this.d.guest, vm: spec.name, timeoutSec: wait.readyTimeout, agentExpected: image?.recipeHash !== undefined, stateOf, progress });
    if (image) await finishFirstBoot({ guest: this.d.guest, spec, image, via, stateOf, progress });
  }

  private async shutdown(name: string, runtime: VmRuntime, opts: { force: boolean; timeout?: number; from: 'running' | 'paused' | string }, ctx: OperationContext): Promise<void> {
    this.stopReasons.set(name, opts.force ? 'stopped by user (forced)' : 'stopped by user');
    try {
      await shutdownRuntime(runtime, {
        force: opts.force,
        timeoutSec: opts.timeout ?? this.d.stopTimeout,
        progress: (p) => ctx.progress(p),
        onEscalate: (why) => this.stopReasons.set(name, `stopped by user: ${why}`),
        guest: guestPowerOff(this.d.guest, name, this.stopReasons),
      });
    } catch (err) {
      if (this.runtimes.get(name) === runtime) this.d.records.transition(name, await runtime.status().catch(() => 'running' as const));
      throw err;
    }
  }

  /** The image as it was when the VM was made: a rebuilt or removed image changes nothing under it. */
  private async imageOf(spec: VmSpec): Promise<ImageEntry> {
    return (await this.d.driver.pinnedImage(spec.name)) ?? (await this.d.images.get(spec.image));
  }

  /** Whether the VM's image is a built one, with the Lodge agent; a failed lookup says no. */
  private carriesAgent(spec: VmSpec): Promise<boolean> {
    return this.imageOf(spec).then((image) => image.recipeHash !== undefined, () => false);
  }

  private adopt(name: string, runtime: VmRuntime, agentExpected: boolean): void {
    this.runtimes.set(name, runtime);
    this.d.guest.attach(name, runtime.vsockCid, agentExpected);
    for (const watch of this.runtimeWatchers) watch(name, runtime);
    const off = runtime.onRunState((running) => {
      this.d.guest.vcpusRunning(name, running);
      const state = this.d.records.find(name)?.state;
      if (state === 'running' || state === 'paused') this.d.records.transition(name, running ? 'running' : 'paused');
      if (running && state === 'paused') this.d.guest.resumed(name);
    });
    void runtime.exited.then((info) => {
      off();
      if (this.runtimes.get(name) === runtime) {
        this.runtimes.delete(name);
        this.d.guest.detach(name);
      }
      const reason = this.stopReasons.get(name) ?? info.reason;
      this.stopReasons.delete(name);
      this.d.records.transition(name, 'stopped', { reason, pid: null });
    });
  }

  private mustRuntime(name: string): VmRuntime {
    const runtime = this.runtimes.get(name);
    if (!runtime) throw new LodgeError('invalid_state', `VM "${name}" has no attached QEMU process`, { hint: `stop it with: lodge stop --force ${name}` });
    return runtime;
  }
}
