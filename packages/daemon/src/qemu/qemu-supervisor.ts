import { rm } from 'node:fs/promises';
import { LodgeError, type DiskSpec } from '@lodge/api';
import type { CpuLimits, DiskThrottle, ExitInfo, LimitHit, RuntimeSample, VmRuntime } from '../ports/vm-driver.js';
import { QmpMonitor, cont, queryStatus, quit, stop, systemPowerdown } from '../qmp/index.js';
import { isRunning, sleep } from '../sys/process-info.js';
import { killAndWait } from './qemu-launcher.js';
import { shutdownReason } from './shutdown-reason.js';

export interface SupervisedFiles {
  qmp: string;
  console: string;
  pid: string;
}

/** Owns one QEMU process and its QMP connection; reports exactly once when the process is gone. */
export class QemuSupervisor implements VmRuntime {
  readonly exited: Promise<ExitInfo>;
  private monitor: QmpMonitor;
  private lastShutdown: string | undefined;
  private detached = false;
  private readonly runListeners = new Set<(running: boolean) => void>();
  private resolveExit!: (info: ExitInfo) => void;

  constructor(
    readonly pid: number,
    monitor: QmpMonitor,
    private readonly files: SupervisedFiles,
  ) {
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
    this.monitor = monitor;
    this.watch(monitor);
  }

  async status(): Promise<'running' | 'paused'> {
    return (await queryStatus(this.monitor)).running ? 'running' : 'paused';
  }

  pause = (): Promise<void> => stop(this.monitor);
  resume = (): Promise<void> => cont(this.monitor);
  powerdown = (): Promise<void> => systemPowerdown(this.monitor);
  quit = (): Promise<void> => quit(this.monitor);

  async kill(): Promise<void> {
    this.lastShutdown ??= 'QEMU was killed';
    await killAndWait(this.pid);
  }

  onRunState(listener: (running: boolean) => void): () => void {
    this.runListeners.add(listener);
    return () => this.runListeners.delete(listener);
  }

  detach(): void {
    this.detached = true;
    this.monitor.close();
  }

  // TODO(issue 5): each of these is being built in its own module; they refuse until then.
  setCpuLimits = (_l: CpuLimits): Promise<void> => this.notYet('CPU limits');
  setVcpus = (_n: number): Promise<void> => this.notYet('vCPU hot-add');
  setMemory = (_b: number): Promise<void> => this.notYet('the memory balloon');
  attachDisk = (_d: DiskSpec, _p: string): Promise<void> => this.notYet('disk hot-plug');
  detachDisk = (_n: string): Promise<void> => this.notYet('disk hot-unplug');
  resizeDisk = (_n: string, _b: number): Promise<void> => this.notYet('live disk resize');
  throttleDisk = (_n: string, _l: DiskThrottle): Promise<void> => this.notYet('disk I/O limits');
  bounds = (): Promise<{ memoryBytes: number; maxCpus: number }> => this.notYet('bounds');
  sample = (): Promise<RuntimeSample> => this.notYet('sampling');
  onLimit(_l: (hit: LimitHit) => void): () => void {
    return () => undefined;
  }
  private notYet(what: string): Promise<never> {
    return Promise.reject(new LodgeError('host_unsupported', `${what} is not built yet`));
  }

  private watch(monitor: QmpMonitor): void {
    monitor.onEvent((ev) => {
      if (ev.event === 'SHUTDOWN') this.lastShutdown = shutdownReason(ev.data);
      if (ev.event === 'STOP' || ev.event === 'RESUME') for (const l of this.runListeners) l(ev.event === 'RESUME');
    });
    monitor.onClose(() => void this.onMonitorClosed());
  }

  /** QMP closes when QEMU exits; if the process lives on, the connection broke and we reconnect. */
  private async onMonitorClosed(): Promise<void> {
    if (this.detached) return;
    for (let waited = 0; waited < 2000; waited += 50) {
      if (!(await isRunning(this.pid))) return this.finish();
      await sleep(50);
    }
    try {
      this.monitor = await QmpMonitor.connect({ path: this.files.qmp, timeoutMs: 5000 });
      this.watch(this.monitor);
    } catch {
      this.lastShutdown = 'QEMU stopped answering on its QMP socket and was killed';
      await killAndWait(this.pid);
      await this.finish();
    }
  }

  private async finish(): Promise<void> {
    await Promise.all([this.files.qmp, this.files.console, this.files.pid].map((f) => rm(f, { force: true })));
    this.resolveExit({ reason: this.lastShutdown ?? 'QEMU exited unexpectedly (see qemu.log and console.log in the VM folder)' });
  }
}
