import type { DiskSpec, MachineType, VmSpec } from '@lodge/api';
import { CIDATA_LABEL } from '@lodge/api/guest';
import { option } from './qemu-option.js';

// How disks appear in QEMU: names shared by the boot argv and by hot-plug over QMP, so both address them alike.

/** Spare PCIe root ports on q35 for hot-plug (a device on pcie.0 itself cannot be hot-plugged). */
export const SPARE_HOTPLUG_PORTS = 4;
/** virtio-blk keeps 20 bytes of serial (VIRTIO_BLK_ID_BYTES); the guest sees the name cut to that. */
export const SERIAL_BYTES = 20;

/** The guest device's qdev id: "root" or an extra disk's name, prefixed. */
export const diskDeviceId = (disk: string): string => `disk-${disk}`;
/** The qcow2 node of an extra disk (blockdev-add and -blockdev both name it). */
export const diskNodeName = (disk: string): string => `blk-${disk}`;
export const hotplugPortId = (index: number): string => `hp${index}`;
export const diskSerial = (disk: string): string => disk.slice(0, SERIAL_BYTES);

/** The disk name behind a device id or QOM path from query-block / query-blockstats, if it is one of ours. */
export function diskNameOf(qdev: string | undefined): string | undefined {
  return /^(?:\/machine\/peripheral\/)?disk-([a-z][a-z0-9-]*)(?:\/virtio-backend)?$/.exec(qdev ?? '')?.[1];
}

/** The qcow2 node of an extra disk: discard passes down to the file, so trimmed blocks leave the host file. */
export function extraDiskBlockdev(disk: string, path: string): Record<string, unknown> {
  return {
    driver: 'qcow2', 'node-name': diskNodeName(disk), discard: 'unmap', 'detect-zeroes': 'unmap',
    file: { driver: 'file', filename: path, discard: 'unmap' },
  };
}

/** -device / device_add properties of a virtio-blk disk. */
export function diskDevice(disk: string, drive: string, bus: 'pci' | 'device', port?: string): Record<string, string> & { driver: string } {
  return { driver: `virtio-blk-${bus}`, drive, id: diskDeviceId(disk), serial: diskSerial(disk), ...(port ? { bus: port } : {}) };
}

const devOption = (props: Record<string, string>): string => {
  const { driver, ...rest } = props;
  return option(driver ?? '', rest);
};

/** The root disk: a -drive (its BlockBackend is "root"), with discard, zero detection and its boot I/O limits. */
export function rootDiskArgv(path: string, bus: 'pci' | 'device', limits: { iops?: number; bps?: number }): string[] {
  return [
    '-drive', option(`file=${path}`, {
      if: 'none', id: 'root', format: 'qcow2', discard: 'unmap', 'detect-zeroes': 'unmap',
      'throttling.iops-total': limits.iops, 'throttling.bps-total': limits.bps,
    }),
    '-device', devOption(diskDevice('root', 'root', bus)),
  ];
}

/** The read-only NoCloud seed, on the bus itself (never unplugged); its serial lets the guest find it without a label. */
export function seedDiskArgv(path: string, bus: 'pci' | 'device'): string[] {
  return [
    '-drive', option(`file=${path}`, { if: 'none', id: 'seed', format: 'raw', readonly: 'on' }),
    '-device', option(`virtio-blk-${bus}`, { drive: 'seed', id: 'seed-disk', serial: CIDATA_LABEL }),
  ];
}

/**
 * Extra disks at boot and the room to hot-plug more: on q35 each boot disk sits on its own root port (so it can
 * be unplugged live) and SPARE_HOTPLUG_PORTS ports stay free; pc hot-plugs on pci.0; microvm cannot hot-plug.
 * Their I/O limits are set over QMP before the vCPUs start (see applyBootThrottles).
 */
export function extraDisksArgv(spec: Pick<VmSpec, 'machine' | 'disks'>, pathOf: (disk: string) => string): string[] {
  const bus = spec.machine === 'microvm' ? 'device' : 'pci';
  const ports = spec.machine === 'q35' ? spec.disks.length + SPARE_HOTPLUG_PORTS : 0;
  const argv: string[] = [];
  for (let i = 0; i < ports; i++) {
    argv.push('-device', option('pcie-root-port', { id: hotplugPortId(i), bus: 'pcie.0', chassis: i + 1, 'io-reserve': 0 }));
  }
  spec.disks.forEach((d: DiskSpec, i) => {
    argv.push('-blockdev', JSON.stringify(extraDiskBlockdev(d.name, pathOf(d.name))));
    argv.push('-device', devOption(diskDevice(d.name, diskNodeName(d.name), bus, ports > 0 ? hotplugPortId(i) : undefined)));
  });
  return argv;
}

export const hotplugBus = (machine: MachineType): 'root-port' | 'pci.0' | 'none' =>
  machine === 'q35' ? 'root-port' : machine === 'pc' ? 'pci.0' : 'none';
