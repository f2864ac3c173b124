import { rm } from 'node:fs/promises';
import { LodgeError, type DiskSpec } from '@lodge/api';
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

/** Between two tries to reach a live QEMU's QMP socket (each waits up to CONNECT_MS for its greeting). */
const RETRY_MS = 1000;
const CONNECT_MS = 5000;

/** What a QMP call gets while QEMU lives but does not answer on its socket. */
export function qmpUnreachable(pid: number, socket: string): LodgeError {
  return new LodgeError('conflict', `QEMU (pid ${pid}) is running but does not answer on ${socket}`, {
    hint: 'QEMU serves one QMP client at a time: close any other program connected to that socket (lodged keeps trying and takes it when it is free); meanwhile the guest agent still works, lodge stop goes through it, and lodge stop --force kills QEMU',
  });
}

/**
 * Owns one QEMU process and its QMP connection; reports exactly once when the process is gone. A live QEMU that does
 * not answer on QMP (another client holds the socket, its main loop is busy) is never killed for it: calls that need
 * QMP fail with qmpUnreachable while the supervisor keeps trying, and watches the pid meanwhile.
 */
export class QemuSupervisor implements VmRuntime {
  readonly exited: Promise<ExitInfo>;
  private monitor: QmpMonitor | undefined;
  private lastShutdown: string | undefined;
  private detached = false;
  private readonly runListeners = new Set<(running: boolean) => void>();
  private resolveExit!: (info: ExitInfo) => void;

  /** `monitor` undefined: QEMU runs but did not answer on QMP yet (see the class comment). */
  constructor(
    readonly pid: number,
    monitor: QmpMonitor | undefined,
    private readonly files: SupervisedFiles,
    private readonly controls: RuntimeControls,
    readonly vsockCid?: number,
  ) {
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
    if (monitor) this.watch(monitor);
    else void this.reach();
  }

  async status(): Promise<'running' | 'paused'> {
    return (await queryStatus(this.qmp())).running ? 'running' : 'paused';
  }

  pause = async (): Promise<void> => stop(this.qmp());
  resume = async (): Promise<void> => cont(this.qmp());
  powerdown = async (): Promise<void> => systemPowerdown(this.qmp());
  quit = async (): Promise<void> => quit(this.qmp());

  async kill(): Promise<void> {
    this.lastShutdown ??= 'QEMU was killed';
    await killAndWait(this.pid);
  }

  get monitorReachable(): boolean {
    return this.monitor !== undefined;
  }

  onRunState(listener: (running: boolean) => void): () => void {
    this.runListeners.add(listener);
    return () => this.runListeners.delete(listener);
  }

  detach(): void {
    this.detached = true;
    this.monitor?.close();
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
    this.monitor = monitor;
    monitor.onEvent((ev) => {
      if (ev.event === 'SHUTDOWN') this.lastShutdown = shutdownReason(ev.data);
      if (ev.event === 'STOP' || ev.event === 'RESUME') for (const l of this.runListeners) l(ev.event === 'RESUME');
    });
    monitor.onClose(() => void this.onMonitorClosed());
  }

  /** The QMP connection of the moment (it is replaced if it breaks while QEMU lives on). */
  readonly qmp = (): QmpMonitor => {
    if (this.monitor) return this.monitor;
    throw qmpUnreachable(this.pid, this.files.qmp);
  };

  /** QMP closes when QEMU exits; if the process lives on, the connection broke and we reconnect. */
  private async onMonitorClosed(): Promise<void> {
    if (this.detached) return;
    this.monitor = undefined;
    for (let waited = 0; waited < 2000; waited += 50) {
      if (!(await isRunning(this.pid))) return this.finish();
      await sleep(50);
    }
    await this.reach();
  }

  /** Tries QMP until it answers or QEMU is gone; the run state may have changed meanwhile, so listeners hear it. */
  private async reach(): Promise<void> {
    while (!this.detached) {
      if (!(await isRunning(this.pid))) return this.finish();
      const monitor = await QmpMonitor.connect({ path: this.files.qmp, timeoutMs: CONNECT_MS }).catch(() => undefined);
      if (monitor && this.detached) return monitor.close();
      if (monitor) {
        this.watch(monitor);
        const running = await queryStatus(monitor).then((s) => s.running, () => undefined);
        if (running !== undefined) for (const l of this.runListeners) l(running);
        return;
      }
      await sleep(RETRY_MS);
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
