import { describe, expect, it } from 'vitest';
import { loadOrder, moduleName, parseKernelConfig, parseModulesDep, selectDrivers } from './kernel-modules.js';

// Shaped like busybox depmod's output for Debian's cloud kernel: dependencies are not listed in load order.
const MODULES_DEP = `kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/net/core/failover.ko:
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko kernel/drivers/net/net_failover.ko
kernel/drivers/char/hw_random/virtio-rng.ko.xz: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
`;

describe('moduleName', () => {
  it('strips folders and compression suffixes and turns dashes into underscores', () => {
    expect(moduleName('kernel/drivers/char/hw_random/virtio-rng.ko.xz')).toBe('virtio_rng');
    expect(moduleName('kernel/fs/fuse/virtiofs.ko.zst')).toBe('virtiofs');
    expect(moduleName('virtio_blk.ko')).toBe('virtio_blk');
  });
});

describe('loadOrder', () => {
  const dep = parseModulesDep(MODULES_DEP);

  it('puts every module after all of its dependencies, each once', () => {
    const { paths, missing } = loadOrder(dep, ['virtio_pci', 'virtio_blk', 'virtio_net']);
    expect(missing).toEqual([]);
    const names = paths.map(moduleName);
    expect(new Set(names).size).toBe(names.length);
    for (const [name, entry] of dep) {
      if (!names.includes(name)) continue;
      for (const d of entry.deps) expect(names.indexOf(d)).toBeLessThan(names.indexOf(name));
    }
    const wanted = ['virtio_pci', 'virtio_blk', 'virtio_net'].map((n) => names.indexOf(n));
    expect(wanted).toEqual([...wanted].sort((a, b) => a - b)); // otherwise in the order asked for
    expect(names.at(-1)).toBe('virtio_net');
    expect(names.indexOf('virtio')).toBeLessThan(names.indexOf('virtio_ring'));
  });

  it('reports modules it does not know and keeps the rest', () => {
    const { paths, missing } = loadOrder(dep, ['9p', 'virtio_blk', '9pnet_virtio']);
    expect(missing).toEqual(['9p', '9pnet_virtio']);
    expect(paths.map(moduleName)).toEqual(['virtio', 'virtio_ring', 'virtio_blk']);
  });

  it('accepts dashed names and keeps compressed paths as listed', () => {
    expect(loadOrder(dep, ['virtio-rng']).paths.at(-1)).toBe('kernel/drivers/char/hw_random/virtio-rng.ko.xz');
  });

  it('terminates on a (malformed) dependency cycle', () => {
    const cyclic = parseModulesDep('a.ko: b.ko\nb.ko: a.ko\n');
    expect(loadOrder(cyclic, ['a']).paths).toEqual(['b.ko', 'a.ko']);
  });
});

describe('selectDrivers', () => {
  const config = parseKernelConfig('CONFIG_EXT4_FS=y\nCONFIG_VIRTIO_BLK=m\n# CONFIG_NET_9P is not set\nCONFIG_LSM="a,b"\n');

  it('loads =m drivers, skips built-in =y ones and notes absent optional ones', () => {
    const drivers = [
      { module: 'ext4', config: 'EXT4_FS', required: true },
      { module: 'virtio_blk', config: 'VIRTIO_BLK', required: true },
      { module: '9p', config: 'NET_9P' },
    ];
    expect(selectDrivers(config, drivers)).toEqual({ modules: ['virtio_blk'], builtIn: ['ext4'], absent: ['9p'] });
    expect(config.get('LSM')).toBe('"a,b"');
  });

  it('refuses a kernel without a required driver', () => {
    expect(() => selectDrivers(config, [{ module: 'virtio_pci', config: 'VIRTIO_PCI', required: true }])).toThrow(/virtio_pci/);
  });
});
