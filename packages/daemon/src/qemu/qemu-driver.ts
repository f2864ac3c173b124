import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { imageFirstBoot, LodgeError, type DiskSpec, type ImageEntry, type VmSpec } from '@lodge/api';
import { seedOf } from '../cidata/cloud-config.js';
import { writeSeedDisk } from '../cidata/seed-disk.js';
import { cpuLimitsOf, type LaunchRequest, type VmDriver, type VmRuntime } from '../ports/vm-driver.js';
import { createOverlay } from '../images/overlay-disk.js';
import { MANIFEST_FILE } from '../images/image-manifest.js';
import { pinImage, readPinnedImage } from '../images/image-pin.js';
import { QmpMonitor, cont } from '../qmp/index.js';
import { checkSocketPaths, type DataFolder } from '../sys/data-folder.js';
import { isRunning, processArgv, readPidFile } from '../sys/process-info.js';
import { readLogFile } from './console-log.js';
import { bootFilesOf, buildArgv } from './qemu-argv.js';
import { killAndWait, launchDaemonized } from './qemu-launcher.js';
import { QemuSupervisor, qmpUnreachable, type SupervisedFiles } from './qemu-supervisor.js';
import { cidFromArgv, launchWithFreeCid, preferredCid } from './vsock-cid.js';
import { guestResources } from './guest-resources.js';
import { applyBootThrottles, QmpDiskControl } from './disk-control.js';
import { DiskFiles, type DiskFileInfo } from './disk-files.js';
import { niceCgroups } from '../cgroup/nice-cgroup.js';
import type { VmCgroup, VmCgroups } from '../cgroup/vm-cgroup.js';
import { CgroupCpuControl } from './cgroup-cpu-control.js';
import { memoryLimitOf } from './memory-headroom.js';

/** Each resolves its binary or throws host_unsupported saying how to install it. */
export interface QemuBinaries {
  system(): Promise<string>;
  img(): Promise<string>;
}

/** The real VM driver: one QEMU process per VM, driven over QMP, files in the VM's folder. */
export class QemuDriver implements VmDriver {
  private readonly consoles = new Set<string>();
  private readonly diskFiles: DiskFiles;

  constructor(
    private readonly folder: DataFolder,
    private readonly binaries: QemuBinaries,
    private readonly hostKhz: () => Promise<number | undefined>,
    private readonly cgroups: VmCgroups,
  ) {
    this.diskFiles = new DiskFiles(folder, () => binaries.img());
  }

  folderOf = (name: string): string => this.folder.vmDir(name);

  async createDisk(spec: VmSpec, image: ImageEntry): Promise<void> {
    checkSocketPaths(this.folder, spec.name);
    const dir = this.folder.vmDir(spec.name);
    await rm(dir, { recursive: true, force: true }); // a folder without a store row is debris of a crashed create
    await mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      const pinned = await pinImage(image, this.folder.vmFile(spec.name, 'image'));
      await createOverlay({ qemuImg: await this.binaries.img(), base: join(pinned.folder, pinned.disk), path: this.folder.vmFile(spec.name, 'disk'), size: spec.disk });
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async launch(req: LaunchRequest): Promise<VmRuntime> {
    const { spec, image } = req;
    const f = (n: Parameters<DataFolder['vmFile']>[1]): string => this.folder.vmFile(spec.name, n);
    const files = { disk: f('disk'), qmp: f('qmp'), console: f('console'), consoleLog: f('consoleLog'), pid: f('pid'), agent: f('agent'), qga: f('qga'), disks: f('disks') };
    const runFiles = [files.qmp, files.console, files.pid, files.agent, files.qga];
    const removeRunFiles = (): Promise<unknown> => Promise.all(runFiles.map((p) => rm(p, { force: true })));
    await removeRunFiles();
    const seed = imageFirstBoot(image) === 'none' ? undefined : f('seed');
    if (seed) await writeSeedDisk(seedOf(spec), seed, req.signal);
    else await rm(f('seed'), { force: true });
    const boot = bootFilesOf(image);
    const hostKhz = spec.machine === 'microvm' ? await this.hostKhz() : undefined;
    const system = await this.binaries.system();
    // Made (and the limits checked) before QEMU exists: a refused pin or quota starts nothing.
    const group = await this.cgroups.create(spec.name, { cpu: cpuLimitsOf(spec), memoryBytes: memoryLimitOf(spec) });
    req.onProgress?.({ step: 'launching QEMU', percent: 20 });
    const start = async (vsockCid: number | undefined): Promise<number> => {
      const argv = buildArgv({ spec, boot, files: { ...files, seed }, accelerator: req.accelerator, hostKhz, vsockCid });
      await writeFile(f('cmdline'), `${JSON.stringify([system, ...argv])}\n`);
      return launchDaemonized({ binary: system, argv, cwd: this.folder.vmDir(spec.name), files: { pid: files.pid, log: f('qemuLog') }, signal: req.signal });
    };
    let pid: number | undefined;
    let vsockCid: number | undefined;
    try {
      if (req.vsock) {
        // A CID another VM on the host holds fails QEMU at start: nothing ran, so the next CID starts clean.
        ({ cid: vsockCid, value: pid } = await launchWithFreeCid(preferredCid(this.folder.root, spec.name), async (cid) => {
          await removeRunFiles();
          return start(cid);
        }));
      } else {
        pid = await start(undefined);
      }
      req.onProgress?.({ step: 'connecting to QMP', percent: 60 });
      const monitor = await QmpMonitor.connect({ path: files.qmp, timeoutMs: 10_000, signal: req.signal });
      // QEMU is still paused (-S): in its group before the first guest instruction, all threads at once.
      await group.addProcess(pid);
      const { runtime, disks } = await this.supervise(pid, monitor, files, group, vsockCid);
      await applyBootThrottles(disks, spec.disks);
      req.onProgress?.({ step: 'starting vCPUs', percent: 90 });
      await cont(monitor);
      return runtime;
    } catch (err) {
      if (pid !== undefined) await killAndWait(pid);
      await removeRunFiles(); // QEMU that dies during start-up leaves its sockets behind
      await group.remove();
      throw err;
    }
  }

  async attach(name: string, recorded: number | undefined): Promise<VmRuntime | { gone: string }> {
    const pid = recorded ?? (await readPidFile(this.folder.vmFile(name, 'pid')));
    if (pid === undefined) return { gone: 'no QEMU process was recorded for it' };
    const argv = await processArgv(pid);
    // The pid must still be our QEMU for this VM, not an unrelated process that reused the number.
    if (!(await isRunning(pid)) || !argv?.some((a) => a.includes(this.folder.vmFile(name, 'pid')))) {
      return { gone: `QEMU (pid ${pid}) exited while lodged was not running` };
    }
    const files = { qmp: this.folder.vmFile(name, 'qmp'), console: this.folder.vmFile(name, 'console'), pid: this.folder.vmFile(name, 'pid') };
    // No answer is no reason to kill a live VM (another client may hold the socket): the supervisor keeps trying.
    const monitor = await QmpMonitor.connect({ path: files.qmp, timeoutMs: 2000 }).catch(() => undefined);
    try {
      const group = await this.reopenGroup(name, pid);
      return (await this.supervise(pid, monitor, files, group, cidFromArgv(argv))).runtime;
    } catch (err) {
      monitor?.close();
      await killAndWait(pid);
      return { gone: `QEMU (pid ${pid}) could not be re-attached and was killed: ${(err as Error).message}` };
    }
  }

  /**
   * A QEMU's supervisor and controls (launched or re-attached). The controls reach QMP through the supervisor once it
   * exists, as it replaces a broken connection; `monitor` undefined: QEMU does not answer yet (qmpUnreachable meanwhile).
   */
  private async supervise(pid: number, monitor: QmpMonitor | undefined, files: SupervisedFiles, group: VmCgroup, vsockCid: number | undefined): Promise<{ runtime: QemuSupervisor; disks: QmpDiskControl }> {
    let runtime: QemuSupervisor | undefined;
    const qmp = (): QmpMonitor => {
      if (runtime) return runtime.qmp();
      if (monitor) return monitor;
      throw qmpUnreachable(pid, files.qmp);
    };
    const disks = new QmpDiskControl(qmp);
    const guest = await guestResources(qmp);
    runtime = new QemuSupervisor(pid, monitor, files, { cpu: await CgroupCpuControl.open(group, pid), guest, disks }, vsockCid);
    return { runtime, disks };
  }

  /** The group QEMU already runs in; a cgroup failure must not cost a running VM, so it then goes on without one. */
  private async reopenGroup(name: string, pid: number): Promise<VmCgroup> {
    try {
      const group = await this.cgroups.open(name);
      await group.addProcess(pid); // a no-op when it is there already
      return group;
    } catch (err) {
      return niceCgroups(`its cgroup could not be re-opened: ${(err as Error).message}`).open(name);
    }
  }

  pinnedImage = (name: string): Promise<ImageEntry | undefined> => readPinnedImage(this.folder.vmFile(name, 'image'));
  hasPinnedImage = (name: string): boolean => existsSync(join(this.folder.vmFile(name, 'image'), MANIFEST_FILE));

  async removeFiles(name: string): Promise<void> {
    await rm(this.folder.vmDir(name), { recursive: true, force: true });
  }

  createExtraDisk = (vm: string, disk: DiskSpec): Promise<string> => this.diskFiles.create(vm, disk);
  removeExtraDisk = (vm: string, disk: string): Promise<void> => this.diskFiles.remove(vm, disk);
  resizeDiskFile = (vm: string, disk: string, bytes: number): Promise<void> => this.diskFiles.resize(vm, disk, bytes);
  diskFile = (vm: string, disk: string): Promise<DiskFileInfo> => this.diskFiles.info(vm, disk);

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
