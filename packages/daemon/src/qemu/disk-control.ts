import { formatSize, LodgeError, type DiskSpec } from '@lodge/api';
import type { DiskThrottle, RuntimeSample } from '../ports/vm-driver.js';
import {
  blockdevAdd, blockdevDel, blockResize, blockSetIoThrottle, deviceAdd, deviceDel, queryBlock, queryBlockstats, queryPci, qomGet,
  type QmpBlock, type QmpMonitor,
} from '../qmp/index.js';
import { checkDiskSize } from './disk-files.js';
import { diskDevice, diskDeviceId, diskNameOf, diskNodeName, extraDiskBlockdev, SPARE_HOTPLUG_PORTS } from './disk-argv.js';
import type { DiskControl } from './runtime-controls.js';

/** How long the guest gets to release an unplugged disk (PCIe hot-unplug waits ~5 s for the guest's button press). */
export const UNPLUG_TIMEOUT_MS = 30_000;

type Machine = 'q35' | 'pc' | 'microvm';

/** Extra disks, live grow, I/O limits and disk statistics of one QEMU, over QMP; stateless, so it works after re-attach. */
export class QmpDiskControl implements DiskControl {
  private machine: Promise<Machine> | undefined;

  constructor(private readonly qmp: () => QmpMonitor, private readonly unplugTimeoutMs = UNPLUG_TIMEOUT_MS) {}

  async attach(disk: DiskSpec, path: string): Promise<void> {
    const m = this.qmp();
    const machine = await this.machineType();
    if (machine === 'microvm') {
      throw new LodgeError('host_unsupported', `a microvm VM cannot hot-plug disks (it has no PCI bus), so disk "${disk.name}" was not attached`, {
        hint: 'stop the VM and add the disk then: it is attached at the next start',
      });
    }
    if (await this.find(disk.name)) throw new LodgeError('already_exists', `disk "${disk.name}" is already attached`);
    const port = machine === 'q35' ? await this.freePort() : undefined;
    await blockdevAdd(m, extraDiskBlockdev(disk.name, path));
    try {
      await deviceAdd(m, diskDevice(disk.name, diskNodeName(disk.name), 'pci', port));
    } catch (err) {
      await blockdevDel(m, diskNodeName(disk.name)); // leave no node behind a failed plug
      throw err;
    }
    if (disk.iops === undefined && disk.bps === undefined) return;
    try {
      await this.throttle(disk.name, disk);
    } catch (err) {
      await this.detach(disk.name).catch(() => undefined);
      throw err;
    }
  }

  async detach(name: string): Promise<void> {
    if (name === 'root') throw new LodgeError('invalid_argument', 'the root disk cannot be detached', { hint: 'stop the VM instead' });
    const m = this.qmp();
    await this.mustFind(name);
    const id = diskDeviceId(name);
    // Subscribed before device_del: the event may arrive before its reply.
    const gone = m.waitForEvent('DEVICE_DELETED', { timeoutMs: this.unplugTimeoutMs, predicate: (ev) => ev.data?.device === id });
    gone.catch(() => undefined);
    await deviceDel(m, id);
    try {
      await gone;
    } catch (err) {
      throw new LodgeError('timeout', `the guest did not release disk "${name}" within ${this.unplugTimeoutMs / 1000} s`, {
        hint: 'the guest must support PCI hot-unplug and be running; try again, or stop the VM', cause: err,
      });
    }
    await blockdevDel(m, diskNodeName(name));
  }

  async resize(name: string, bytes: number): Promise<void> {
    checkDiskSize(`disk "${name}"`, bytes);
    const block = await this.mustFind(name);
    const current = block.virtualSize ?? 0;
    if (bytes < current) {
      throw new LodgeError('invalid_argument', `disk "${name}" is ${formatSize(current)}; it cannot shrink to ${formatSize(bytes)}`, {
        hint: 'disks only grow (a shrink would cut the guest file system)', details: { sizeBytes: current, requested: bytes },
      });
    }
    if (bytes === current) return;
    if (!block.nodeName) throw new LodgeError('qemu_failed', `disk "${name}" has no block node in QEMU`);
    await blockResize(this.qmp(), block.nodeName, bytes);
  }

  async throttle(name: string, limits: DiskThrottle): Promise<void> {
    const block = await this.mustFind(name);
    await blockSetIoThrottle(this.qmp(), block.qdev ?? diskDeviceId(name), { iops: limits.iops ?? 0, bps: limits.bps ?? 0 });
  }

  async usage(): Promise<RuntimeSample['disks']> {
    const stats = await queryBlockstats(this.qmp());
    return stats.flatMap(({ qdev, ...s }) => {
      const name = diskNameOf(qdev);
      return name ? [{ name, ...s }] : [];
    });
  }

  private async find(name: string): Promise<QmpBlock | undefined> {
    return (await queryBlock(this.qmp())).find((b) => diskNameOf(b.qdev) === name);
  }

  private async mustFind(name: string): Promise<QmpBlock> {
    const block = await this.find(name);
    if (!block) throw new LodgeError('not_found', `disk "${name}" is not attached to the running VM`, { hint: 'lodge disk list shows the VM\'s disks' });
    return block;
  }

  /** A spare root port nothing is plugged into (boot disks hold the first ones). */
  private async freePort(): Promise<string> {
    const ports = (await queryPci(this.qmp())).filter((d) => /^hp\d+$/.test(d.qdevId));
    const free = ports.find((p) => (p.bridgeDevices ?? []).length === 0);
    if (ports.length === 0) {
      throw new LodgeError('insufficient_resources', 'the VM was started without hot-plug slots (by an older Lodge)', { hint: 'restart the VM, or add the disk while it is stopped' });
    }
    if (!free) {
      throw new LodgeError('insufficient_resources', `all ${ports.length} hot-plug slots of the VM are in use`, {
        hint: `stop the VM and add the disk then (each start leaves ${SPARE_HOTPLUG_PORTS} slots free), or remove a hot-plugged disk`,
      });
    }
    return free.qdevId;
  }

  private machineType(): Promise<Machine> {
    this.machine ??= qomGet<string>(this.qmp(), '/machine', 'type').then(
      (t) => (t.includes('q35') ? 'q35' : t.includes('microvm') ? 'microvm' : 'pc'),
      (err) => ((this.machine = undefined), Promise.reject(err)),
    );
    return this.machine;
  }
}

/** Extra disks' I/O limits at boot: set while the vCPUs are still stopped (-blockdev has no throttling of its own). */
export async function applyBootThrottles(control: DiskControl, disks: DiskSpec[]): Promise<void> {
  for (const d of disks) if (d.iops !== undefined || d.bps !== undefined) await control.throttle(d.name, d);
}
