import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blockResize, blockSetIoThrottle, blockdevDel, deviceDel, queryBlock, queryBlockstats, queryPci } from './block-commands.js';
import { FakeQmpServer } from './fake-qmp-server.js';
import { QmpMonitor } from './monitor.js';

let server: FakeQmpServer;
let m: QmpMonitor;
beforeEach(async () => {
  server = await FakeQmpServer.start();
  m = await QmpMonitor.connect({ path: server.path });
});
afterEach(async () => {
  m.close();
  await server.stop();
});
const sent = () => server.received.slice(1).map(({ execute, arguments: args }) => ({ execute, arguments: args }));

describe('QMP block commands', () => {
  it('send QEMU 7.2 argument names', async () => {
    for (const c of ['blockdev-del', 'device_del', 'block_resize', 'block_set_io_throttle']) server.on(c, () => ({}));
    await blockdevDel(m, 'blk-data');
    await deviceDel(m, 'disk-data');
    await blockResize(m, 'blk-data', 2 ** 30);
    await blockSetIoThrottle(m, '/machine/peripheral/disk-data/virtio-backend', { iops: 100, bps: 0 });
    expect(sent()).toEqual([
      { execute: 'blockdev-del', arguments: { 'node-name': 'blk-data' } },
      { execute: 'device_del', arguments: { id: 'disk-data' } },
      { execute: 'block_resize', arguments: { 'node-name': 'blk-data', size: 2 ** 30 } },
      { execute: 'block_set_io_throttle', arguments: { id: '/machine/peripheral/disk-data/virtio-backend', iops: 100, bps: 0, bps_rd: 0, bps_wr: 0, iops_rd: 0, iops_wr: 0 } },
    ]);
  });

  it('map query-block, query-blockstats and query-pci replies', async () => {
    server.on('query-block', () => [
      { device: 'root', qdev: '/machine/peripheral/disk-root/virtio-backend', inserted: { 'node-name': '#block1', iops: 5, bps: 0, image: { 'virtual-size': 1024 } } },
      { device: '', qdev: 'x' },
    ]);
    server.on('query-blockstats', () => [{ qdev: 'disk-a', stats: { rd_bytes: 1, wr_bytes: 2, rd_operations: 3, wr_operations: 4, flush_operations: 9 } }]);
    server.on('query-pci', () => [{ bus: 0, devices: [{ qdev_id: 'hp0', pci_bridge: { bus: {}, devices: [{ qdev_id: 'disk-a' }] } }, { qdev_id: 'hp1', pci_bridge: { bus: {} } }, { slot: 31 }] }]);
    expect(await queryBlock(m)).toEqual([
      { device: 'root', qdev: '/machine/peripheral/disk-root/virtio-backend', nodeName: '#block1', virtualSize: 1024, iops: 5, bps: 0 },
      { device: '', qdev: 'x', nodeName: undefined, virtualSize: undefined, iops: undefined, bps: undefined },
    ]);
    expect(await queryBlockstats(m)).toEqual([{ qdev: 'disk-a', readBytes: 1, writeBytes: 2, readOps: 3, writeOps: 4 }]);
    expect(await queryPci(m)).toEqual([
      { qdevId: 'hp0', bridgeDevices: [{ qdevId: 'disk-a' }] },
      { qdevId: 'hp1', bridgeDevices: [] },
      { qdevId: '' },
    ]);
  });
});
