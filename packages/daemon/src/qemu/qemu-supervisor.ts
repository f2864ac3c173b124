import { rm } from 'node:fs/promises';
import type { DiskSpec } from '@lodge/api';
import type { CpuLimits, DiskThrottle, ExitInfo, LimitHit, RuntimeSample, VmRuntime } from '../ports/vm-driver.js';
import { QmpMonitor, cont, queryStatus, quit, stop, systemPowerdown } from '../qmp/index.js';
import { isRunning, sleep } from '../sys/process-info.js';
import { killAndWait } from './qemu-launcher.js';
import { residentBytes } from './process-usage.js';
import type { RuntimeControls } from './runtime-controls.js';
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
    private readonly controls: RuntimeControls,
    readonly vsockCid?: number,
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

  setCpuLimits = (l: CpuLimits): Promise<void> => this.controls.cpu.setLimits(l);
  setVcpus = (n: number): Promise<void> => this.controls.guest.setVcpus(n);
  setMemory = (b: number): Promise<void> => this.controls.guest.setMemory(b);
  bounds = (): Promise<{ memoryBytes: number; maxCpus: number }> => this.controls.guest.bounds();
  attachDisk = (d: DiskSpec, path: string): Promise<void> => this.controls.disks.attach(d, path);
  detachDisk = (name: string): Promise<void> => this.controls.disks.detach(name);
  resizeDisk = (name: string, bytes: number): Promise<void> => this.controls.disks.resize(name, bytes);
  throttleDisk = (name: string, l: DiskThrottle): Promise<void> => this.controls.disks.throttle(name, l);
  onLimit = (l: (hit: LimitHit) => void): (() => void) => this.controls.cpu.onLimit(l);

  async sample(): Promise<RuntimeSample> {
    const [cpu, guest, disks, rssBytes] = await Promise.all([
      this.controls.cpu.usage(),
      this.controls.guest.usage(),
      this.controls.disks.usage(),
      residentBytes(this.pid),
    ]);
    return { ...cpu, ...guest, disks, rssBytes };
  }

  private watch(monitor: QmpMonitor): void {
    monitor.onEvent((ev) => {
      if (ev.event === 'SHUTDOWN') this.lastShutdown = shutdownReason(ev.data);
      if (ev.event === 'STOP' || ev.event === 'RESUME') for (const l of this.runListeners) l(ev.event === 'RESUME');
    });
    monitor.onClose(() => void this.onMonitorClosed());
  }

  /** The QMP connection of the moment (it is replaced if it breaks while QEMU lives on). */
  readonly qmp = (): QmpMonitor => this.monitor;

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
    this.controls.guest.dispose();
    const { oomKilled } = await this.controls.cpu.dispose().catch(() => ({ oomKilled: false }));
    if (oomKilled) this.lastShutdown = 'QEMU was killed by the host memory limit of its cgroup (raise --memory headroom or give the guest less)';
    await Promise.all([this.files.qmp, this.files.console, this.files.pid].map((f) => rm(f, { force: true })));
    this.resolveExit({ reason: this.lastShutdown ?? 'QEMU exited unexpectedly (see qemu.log and console.log in the VM folder)' });
  }
}
