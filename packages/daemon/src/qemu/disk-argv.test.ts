import { describe, expect, it } from 'vitest';
import { diskNameOf, extraDisksArgv, rootDiskArgv, SPARE_HOTPLUG_PORTS } from './disk-argv.js';

const valueOf = (argv: string[], flag: string): string[] => argv.flatMap((a, i) => (a === flag ? [argv[i + 1] ?? ''] : []));
const pathOf = (d: string): string => `/d/vms/web/disks/${d}.qcow2`;
const disks = [{ name: 'data', size: 2 ** 30, iops: 100 }, { name: 'a-very-long-disk-name-here', size: 2 ** 30 }];

describe('disk argv', () => {
  it('gives the root disk discard, zero detection and its boot I/O limits', () => {
    const argv = rootDiskArgv('/d/a,b/disk.qcow2', 'pci', { iops: 100, bps: 50 * 2 ** 20 });
    expect(valueOf(argv, '-drive')).toEqual([
      'file=/d/a,,b/disk.qcow2,if=none,id=root,format=qcow2,discard=unmap,detect-zeroes=unmap,throttling.iops-total=100,throttling.bps-total=52428800',
    ]);
    expect(valueOf(argv, '-device')).toEqual(['virtio-blk-pci,drive=root,id=disk-root,serial=root']);
  });

  it('puts each q35 boot disk on its own root port and leaves spare ports for hot-plug', () => {
    const argv = extraDisksArgv({ machine: 'q35', disks }, pathOf);
    const devices = valueOf(argv, '-device');
    expect(devices.filter((d) => d.startsWith('pcie-root-port'))).toHaveLength(disks.length + SPARE_HOTPLUG_PORTS);
    expect(devices[0]).toBe('pcie-root-port,id=hp0,bus=pcie.0,chassis=1,io-reserve=0');
    expect(devices).toContain('virtio-blk-pci,drive=blk-data,id=disk-data,serial=data,bus=hp0');
    // virtio-blk keeps 20 bytes of serial.
    expect(devices).toContain('virtio-blk-pci,drive=blk-a-very-long-disk-name-here,id=disk-a-very-long-disk-name-here,serial=a-very-long-disk-nam,bus=hp1');
    expect(JSON.parse(valueOf(argv, '-blockdev')[0] ?? '')).toEqual({
      driver: 'qcow2', 'node-name': 'blk-data', discard: 'unmap', 'detect-zeroes': 'unmap',
      file: { driver: 'file', filename: pathOf('data'), discard: 'unmap' },
    });
  });

  it('has no root ports on pc (pci.0 hot-plugs) nor on microvm (virtio-mmio)', () => {
    expect(valueOf(extraDisksArgv({ machine: 'pc', disks }, pathOf), '-device')).toEqual([
      'virtio-blk-pci,drive=blk-data,id=disk-data,serial=data',
      'virtio-blk-pci,drive=blk-a-very-long-disk-name-here,id=disk-a-very-long-disk-name-here,serial=a-very-long-disk-nam',
    ]);
    expect(valueOf(extraDisksArgv({ machine: 'microvm', disks: disks.slice(0, 1) }, pathOf), '-device')).toEqual(['virtio-blk-device,drive=blk-data,id=disk-data,serial=data']);
    expect(extraDisksArgv({ machine: 'pc', disks: [] }, pathOf)).toEqual([]);
  });

  it('reads the disk name back from a device id or QOM path', () => {
    expect(diskNameOf('/machine/peripheral/disk-data/virtio-backend')).toBe('data');
    expect(diskNameOf('disk-root')).toBe('root');
    expect(diskNameOf('/machine/peripheral-anon/device[3]/virtio-backend')).toBeUndefined();
    expect(diskNameOf(undefined)).toBeUndefined();
  });
});
