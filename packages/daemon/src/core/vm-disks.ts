import { DiskAddRequest, DiskUpdateRequest, formatSize, LodgeError, type DiskInfo, type DiskSpec, type VmSpec } from '@lodge/api';
import type { VmDriver } from '../ports/vm-driver.js';
import type { KeyedLock } from './keyed-lock.js';
import { assertAllowed } from './state-table.js';
import { parseOrThrow } from './validate.js';
import type { GuestFollowUp } from './vm-settings.js';
import type { VmLifecycle } from './vm-lifecycle.js';
import type { VmRecords } from './vm-records.js';

export interface DisksDeps {
  records: VmRecords;
  lifecycle: VmLifecycle;
  driver: VmDriver;
  guest: GuestFollowUp;
  locks: KeyedLock;
}

/** `lodge disk`: a VM's extra disks, hot-plugged while it runs; the spec changes only once the disk is there (or gone). */
export class VmDisks {
  constructor(private readonly d: DisksDeps) {}

  async list(name: string): Promise<DiskInfo[]> {
    const { spec } = this.d.records.get(name);
    const attached = this.d.lifecycle.runtimeOf(name) !== undefined;
    const root = { name: 'root', iops: spec.diskIops, bps: spec.diskBps };
    return Promise.all([root, ...spec.disks].map(async (disk) => ({ ...disk, ...(await this.d.driver.diskFile(name, disk.name)), attached })));
  }

  add(name: string, input: unknown): Promise<DiskInfo> {
    const disk: DiskSpec = parseOrThrow(DiskAddRequest, input, 'disk');
    return this.d.locks.run(name, async () => {
      const rec = this.d.records.get(name);
      assertAllowed('disk', rec.state, name);
      if (disk.name === 'root' || rec.spec.disks.some((d) => d.name === disk.name)) {
        throw new LodgeError('already_exists', `VM "${name}" already has a disk named "${disk.name}"`, { hint: `pick another name; see them with: lodge disk list ${name}` });
      }
      const path = await this.d.driver.createExtraDisk(name, disk);
      const runtime = this.d.lifecycle.runtimeOf(name);
      try {
        await runtime?.attachDisk(disk, path);
      } catch (err) {
        await this.d.driver.removeExtraDisk(name, disk.name).catch(() => undefined);
        throw err;
      }
      this.record(rec.spec, { ...rec.spec, disks: [...rec.spec.disks, disk] }, `disks.${disk.name}`);
      return this.info(name, disk.name);
    });
  }

  remove(name: string, diskName: string): Promise<void> {
    return this.d.locks.run(name, async () => {
      const rec = this.d.records.get(name);
      assertAllowed('disk', rec.state, name);
      this.find(rec.spec, diskName);
      await this.d.lifecycle.runtimeOf(name)?.detachDisk(diskName);
      await this.d.driver.removeExtraDisk(name, diskName);
      this.record(rec.spec, { ...rec.spec, disks: rec.spec.disks.filter((d) => d.name !== diskName) }, `disks.${diskName}`);
    });
  }

  update(name: string, diskName: string, input: unknown): Promise<{ disk: DiskInfo; notes: string[] }> {
    const req = parseOrThrow(DiskUpdateRequest, input, 'disk settings');
    return this.d.locks.run(name, async () => {
      const rec = this.d.records.get(name);
      assertAllowed('disk', rec.state, name);
      const old = this.find(rec.spec, diskName);
      const next: DiskSpec = { ...old, size: req.size ?? old.size };
      for (const key of ['iops', 'bps'] as const) {
        if (req[key] === null) delete next[key];
        else if (req[key] !== undefined) next[key] = req[key];
      }
      if (next.size < old.size) {
        throw new LodgeError('invalid_argument', `disk "${diskName}" of "${name}" cannot shrink: it is ${formatSize(old.size)}, asked ${formatSize(next.size)}`, {
          hint: 'give a larger size',
        });
      }
      const notes: string[] = [];
      const runtime = this.d.lifecycle.runtimeOf(name);
      if (runtime && (next.iops !== old.iops || next.bps !== old.bps)) await runtime.throttleDisk(diskName, { iops: next.iops, bps: next.bps });
      if (next.size > old.size) {
        if (runtime) {
          await runtime.resizeDisk(diskName, next.size);
          const note = await this.d.guest.growFilesystem(name, diskName);
          if (note) notes.push(note);
        } else await this.d.driver.resizeDiskFile(name, diskName, next.size);
      }
      this.record(rec.spec, { ...rec.spec, disks: rec.spec.disks.map((d) => (d.name === diskName ? next : d)) }, `disks.${diskName}`);
      return { disk: await this.info(name, diskName), notes };
    });
  }

  private find(spec: VmSpec, diskName: string): DiskSpec {
    const disk = spec.disks.find((d) => d.name === diskName);
    if (!disk) {
      const hint = diskName === 'root' ? `the root disk changes with: lodge set ${spec.name} --disk SIZE` : `see its disks with: lodge disk list ${spec.name}`;
      throw new LodgeError('not_found', `VM "${spec.name}" has no extra disk named "${diskName}"`, { hint });
    }
    return disk;
  }

  private record(old: VmSpec, spec: VmSpec, field: string): void {
    if (old !== spec) this.d.records.updateSpec(spec.name, spec, [field]);
  }

  private async info(name: string, diskName: string): Promise<DiskInfo> {
    const found = (await this.list(name)).find((d) => d.name === diskName);
    if (!found) throw new LodgeError('internal', `disk "${diskName}" of "${name}" vanished`);
    return found;
  }
}
