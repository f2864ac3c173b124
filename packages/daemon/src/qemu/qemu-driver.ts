import { connect } from 'node:net';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { LodgeError, type DiskSpec, type ImageEntry, type VmSpec } from '@lodge/api';
import type { LaunchRequest, VmDriver, VmRuntime } from '../ports/vm-driver.js';
import { createOverlay } from '../images/overlay-disk.js';
import { QmpMonitor, cont } from '../qmp/index.js';
import { checkSocketPaths, type DataFolder } from '../sys/data-folder.js';
import { isRunning, processArgv, readPidFile } from '../sys/process-info.js';
import { readLogFile } from './console-log.js';
import { buildArgv } from './qemu-argv.js';
import { killAndWait, launchDaemonized } from './qemu-launcher.js';
import { QemuSupervisor } from './qemu-supervisor.js';
import { pendingCpu, pendingDisks } from './pending-controls.js';
import { guestResources } from './guest-resources.js';

/** Each resolves its binary or throws host_unsupported saying how to install it. */
export interface QemuBinaries {
  system(): Promise<string>;
  img(): Promise<string>;
}

/** The real VM driver: one QEMU process per VM, driven over QMP, files in the VM's folder. */
export class QemuDriver implements VmDriver {
  private readonly consoles = new Set<string>();

  constructor(
    private readonly folder: DataFolder,
    private readonly binaries: QemuBinaries,
    private readonly hostKhz: () => Promise<number | undefined>,
  ) {}

  folderOf = (name: string): string => this.folder.vmDir(name);

  async createDisk(spec: VmSpec, image: ImageEntry): Promise<void> {
    checkSocketPaths(this.folder, spec.name);
    const dir = this.folder.vmDir(spec.name);
    await rm(dir, { recursive: true, force: true }); // a folder without a store row is debris of a crashed create
    await mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      await createOverlay({ qemuImg: await this.binaries.img(), base: join(image.folder, image.disk), path: this.folder.vmFile(spec.name, 'disk'), size: spec.disk });
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async launch(req: LaunchRequest): Promise<VmRuntime> {
    const { spec, image } = req;
    const f = (n: Parameters<DataFolder['vmFile']>[1]): string => this.folder.vmFile(spec.name, n);
    const files = { disk: f('disk'), qmp: f('qmp'), console: f('console'), consoleLog: f('consoleLog'), pid: f('pid'), agent: f('agent'), qga: f('qga') };
    const runFiles = [files.qmp, files.console, files.pid, files.agent, files.qga];
    const removeRunFiles = (): Promise<unknown> => Promise.all(runFiles.map((p) => rm(p, { force: true })));
    await removeRunFiles();
    const boot = { kernel: join(image.folder, image.kernel), initrd: join(image.folder, image.initrd), cmdline: image.kernelCmdline };
    const hostKhz = spec.machine === 'microvm' ? await this.hostKhz() : undefined;
    const argv = buildArgv({ spec, boot, files, accelerator: req.accelerator, hostKhz });
    const system = await this.binaries.system();
    await writeFile(f('cmdline'), `${JSON.stringify([system, ...argv])}\n`);
    req.onProgress?.({ step: 'launching QEMU', percent: 20 });
    let pid: number | undefined;
    try {
      pid = await launchDaemonized({ binary: system, argv, cwd: this.folder.vmDir(spec.name), files: { pid: files.pid, log: f('qemuLog') }, signal: req.signal });
      req.onProgress?.({ step: 'connecting to QMP', percent: 60 });
      const monitor = await QmpMonitor.connect({ path: files.qmp, timeoutMs: 10_000, signal: req.signal });
      let runtime: QemuSupervisor | undefined; // the parts reach QMP through it: it replaces a broken connection
      const guest = await guestResources(() => runtime?.qmp() ?? monitor);
      runtime = new QemuSupervisor(pid, monitor, files, { cpu: pendingCpu(pid), guest, disks: pendingDisks() });
      req.onProgress?.({ step: 'starting vCPUs', percent: 90 });
      await cont(monitor);
      return runtime;
    } catch (err) {
      if (pid !== undefined) await killAndWait(pid);
      await removeRunFiles(); // QEMU that dies during start-up leaves its sockets behind
      throw err;
    }
  }

  async attach(name: string, recorded: number | undefined): Promise<VmRuntime | { gone: string }> {
    const dir = this.folder.vmDir(name);
    const pid = recorded ?? (await readPidFile(this.folder.vmFile(name, 'pid')));
    if (pid === undefined) return { gone: 'no QEMU process was recorded for it' };
    const argv = await processArgv(pid);
    // The pid must still be our QEMU for this VM, not an unrelated process that reused the number.
    if (!(await isRunning(pid)) || !argv?.some((a) => a.includes(this.folder.vmFile(name, 'pid')))) {
      return { gone: `QEMU (pid ${pid}) exited while lodged was not running` };
    }
    const files = { qmp: this.folder.vmFile(name, 'qmp'), console: this.folder.vmFile(name, 'console'), pid: this.folder.vmFile(name, 'pid') };
    try {
      const monitor = await QmpMonitor.connect({ path: files.qmp, timeoutMs: 5000 });
      let runtime: QemuSupervisor | undefined;
      const guest = await guestResources(() => runtime?.qmp() ?? monitor);
      return (runtime = new QemuSupervisor(pid, monitor, files, { cpu: pendingCpu(pid), guest, disks: pendingDisks() }));
    } catch (err) {
      await killAndWait(pid);
      return { gone: `QEMU (pid ${pid}) did not answer on ${dir}/qmp.sock and was killed: ${(err as Error).message}` };
    }
  }

  async removeFiles(name: string): Promise<void> {
    await rm(this.folder.vmDir(name), { recursive: true, force: true });
  }

  // TODO(issue 5): extra disk files are being built in their own module.
  createExtraDisk = (_n: string, _d: DiskSpec): Promise<string> => Promise.reject(new LodgeError('host_unsupported', 'extra disks are not built yet'));
  removeExtraDisk = (_n: string, _d: string): Promise<void> => Promise.reject(new LodgeError('host_unsupported', 'extra disks are not built yet'));
  resizeDiskFile = (_n: string, _d: string, _b: number): Promise<void> => Promise.reject(new LodgeError('host_unsupported', 'disk resize is not built yet'));
  diskFile = (_n: string, _d: string): Promise<{ path: string; sizeBytes: number; allocatedBytes: number }> =>
    Promise.reject(new LodgeError('host_unsupported', 'disk files are not built yet'));

  async openConsole(name: string): Promise<Duplex> {
    // QEMU serves one console client at a time; a second one would hang unanswered.
    if (this.consoles.has(name)) {
      throw new LodgeError('conflict', `the console of "${name}" is already attached`, { hint: 'detach the other session first (Ctrl-] in lodge console)' });
    }
    const sock = connect(this.folder.vmFile(name, 'console'));
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', (err) => reject(new LodgeError('qemu_failed', `cannot open the console of "${name}": ${err.message}`, { cause: err })));
    });
    this.consoles.add(name);
    sock.once('close', () => this.consoles.delete(name));
    return sock;
  }

  readLog(name: string, opts: { follow: boolean; signal: AbortSignal }): AsyncIterable<Buffer> {
    return readLogFile(this.folder.vmFile(name, 'consoleLog'), opts);
  }
}
