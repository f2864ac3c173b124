import { access, mkdir, rm } from 'node:fs/promises';
import { formatSize, LodgeError, type DiskSpec } from '@lodge/api';
import { runCommand } from '../images/host-command.js';
import { extraDiskFile, type DataFolder } from '../sys/data-folder.js';

export interface DiskFileInfo {
  path: string;
  sizeBytes: number;
  allocatedBytes: number;
}

/** qcow2 sizes must be whole 512-byte sectors; a rounded size would differ from the one recorded. */
export function checkDiskSize(what: string, bytes: number): void {
  if (!Number.isInteger(bytes) || bytes <= 0 || bytes % 512 !== 0) {
    throw new LodgeError('invalid_argument', `the size of ${what} must be a whole number of 512-byte sectors, got ${bytes} bytes`, {
      hint: `use a size in whole K, M or G, e.g. ${formatSize(Math.ceil(Math.max(bytes, 1) / 2 ** 20) * 2 ** 20)}`,
    });
  }
}

/** The qcow2 files of a VM's disks: "root" is disk.qcow2, other names are disks/<name>.qcow2. */
export class DiskFiles {
  constructor(private readonly folder: DataFolder, private readonly qemuImg: () => Promise<string>) {}

  path = (vm: string, disk: string): string =>
    disk === 'root' ? this.folder.vmFile(vm, 'disk') : extraDiskFile(this.folder.vmFile(vm, 'disks'), disk);

  async create(vm: string, disk: DiskSpec): Promise<string> {
    if (disk.name === 'root') throw new LodgeError('invalid_argument', 'an extra disk cannot be named "root": that is the boot disk', { hint: 'choose another name, e.g. data' });
    checkDiskSize(`disk "${disk.name}"`, disk.size);
    await this.vmMustExist(vm);
    const path = this.path(vm, disk.name);
    if (await exists(path)) throw new LodgeError('already_exists', `VM "${vm}" already has a disk "${disk.name}" (${path})`, { hint: 'choose another name, or remove it first: lodge disk rm' });
    await mkdir(this.folder.vmFile(vm, 'disks'), { recursive: true, mode: 0o700 });
    try {
      // qcow2 is sparse: the file grows only as the guest writes.
      await runCommand(await this.qemuImg(), ['create', '-q', '-f', 'qcow2', path, String(disk.size)]);
    } catch (err) {
      await rm(path, { force: true });
      throw new LodgeError('qemu_failed', `cannot create disk "${disk.name}" of VM "${vm}": ${(err as Error).message}`, { hint: 'check free space and permissions in the data folder', cause: err });
    }
    return path;
  }

  async remove(vm: string, disk: string): Promise<void> {
    if (disk === 'root') throw new LodgeError('invalid_argument', `the root disk of VM "${vm}" cannot be removed`, { hint: 'delete the VM instead: lodge rm' });
    await rm((await this.info(vm, disk)).path);
  }

  /** Offline grow: refuses a smaller size and a file a running QEMU holds (its lock). */
  async resize(vm: string, disk: string, bytes: number): Promise<void> {
    checkDiskSize(`disk "${disk}"`, bytes);
    const { path, sizeBytes } = await this.info(vm, disk);
    if (bytes < sizeBytes) {
      throw new LodgeError('invalid_argument', `disk "${disk}" of VM "${vm}" is ${formatSize(sizeBytes)}; it cannot shrink to ${formatSize(bytes)}`, {
        hint: 'disks only grow (a shrink would cut the guest file system)', details: { sizeBytes, requested: bytes },
      });
    }
    if (bytes === sizeBytes) return;
    try {
      await runCommand(await this.qemuImg(), ['resize', '-q', '-f', 'qcow2', path, String(bytes)]);
    } catch (err) {
      const locked = /lock/i.test((err as Error).message);
      throw new LodgeError(locked ? 'invalid_state' : 'qemu_failed', `cannot grow disk "${disk}" of VM "${vm}": ${(err as Error).message}`, {
        hint: locked ? 'the VM runs: grow it live (lodge disk set / lodge set --disk)' : 'check free space and permissions in the data folder', cause: err,
      });
    }
  }

  /** Path, virtual size and host allocation; -U reads it even while a running QEMU holds the file. */
  async info(vm: string, disk: string): Promise<DiskFileInfo> {
    await this.vmMustExist(vm);
    const path = this.path(vm, disk);
    if (!(await exists(path))) throw new LodgeError('not_found', `VM "${vm}" has no disk "${disk}"`, { hint: `list its disks: lodge disk list ${vm}` });
    const out = await runCommand(await this.qemuImg(), ['info', '-U', '--output=json', '-f', 'qcow2', path]);
    const j = JSON.parse(out) as { 'virtual-size': number; 'actual-size': number };
    return { path, sizeBytes: j['virtual-size'], allocatedBytes: j['actual-size'] };
  }

  private async vmMustExist(vm: string): Promise<void> {
    if (!(await exists(this.folder.vmDir(vm)))) throw new LodgeError('not_found', `VM "${vm}" has no folder (${this.folder.vmDir(vm)})`);
  }
}

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);
