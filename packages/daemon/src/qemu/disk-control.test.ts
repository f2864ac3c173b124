import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeQmpFailure, FakeQmpServer } from '../qmp/fake-qmp-server.js';
import { QmpMonitor } from '../qmp/index.js';
import { QmpDiskControl } from './disk-control.js';

// A fake QEMU that keeps a table of block devices, so the control's QMP sequences can be checked.
interface Dev { qdev: string; node: string; size: number; iops: number; bps: number }
let server: FakeQmpServer;
let m: QmpMonitor;
let devs: Dev[];
let nodes: Set<string>;
let machineType: string;
let ports: { qdev_id: string; pci_bridge: { devices: unknown[] } }[];

beforeEach(async () => {
  devs = [{ qdev: '/machine/peripheral/disk-root/virtio-backend', node: '#block1', size: 2 ** 30, iops: 0, bps: 0 }];
  nodes = new Set();
  machineType = 'pc-q35-7.2-machine';
  ports = [{ qdev_id: 'hp0', pci_bridge: { devices: [{ qdev_id: 'disk-old' }] } }, { qdev_id: 'hp1', pci_bridge: { devices: [] } }];
  server = await FakeQmpServer.start();
  server
    .on('qom-get', () => machineType)
    .on('query-pci', () => [{ bus: 0, devices: [{ qdev_id: '' }, ...ports] }])
    .on('query-block', () => devs.map((d) => ({ device: '', qdev: d.qdev, inserted: { 'node-name': d.node, iops: d.iops, bps: d.bps, image: { 'virtual-size': d.size } } })))
    .on('query-blockstats', () => devs.map((d, i) => ({ qdev: d.qdev, stats: { rd_bytes: i, wr_bytes: 10 * i, rd_operations: 2, wr_operations: 3 } })))
    .on('blockdev-add', (a) => void nodes.add(String(a?.['node-name'])))
    .on('blockdev-del', (a) => void nodes.delete(String(a?.['node-name'])))
    .on('device_add', (a) => {
      if (a?.serial === 'bad') throw new FakeQmpFailure('GenericError', 'Bus hp1 refused');
      devs.push({ qdev: `/machine/peripheral/${String(a?.id)}/virtio-backend`, node: String(a?.drive), size: 2 ** 20, iops: 0, bps: 0 });
    })
    .on('device_del', (a) => {
      setImmediate(() => {
        devs = devs.filter((d) => !d.qdev.includes(`/${String(a?.id)}/`));
        server.emitEvent('DEVICE_DELETED', { path: `/machine/peripheral/${String(a?.id)}/virtio-backend` });
        server.emitEvent('DEVICE_DELETED', { device: a?.id, path: `/machine/peripheral/${String(a?.id)}` });
      });
    })
    .on('block_resize', (a) => void (devs.find((d) => d.node === a?.['node-name'])!.size = Number(a?.size)))
    .on('block_set_io_throttle', (a) => {
      const d = devs.find((x) => x.qdev === a?.id)!;
      Object.assign(d, { iops: a?.iops, bps: a?.bps });
    });
  m = await QmpMonitor.connect({ path: server.path });
});
afterEach(async () => {
  m.close();
  await server.stop();
});

const control = (): QmpDiskControl => new QmpDiskControl(() => m, 500);
const commands = (): string[] => server.received.slice(1).map((r) => r.execute).filter((c) => !c.startsWith('query') && c !== 'qom-get');

describe('QmpDiskControl', () => {
  it('hot-plugs on a free q35 root port with its limits, and unplugs after DEVICE_DELETED', async () => {
    await control().attach({ name: 'data', size: 2 ** 20, iops: 100 }, '/v/disks/data.qcow2');
    const add = server.received.find((r) => r.execute === 'device_add');
    expect(add?.arguments).toEqual({ driver: 'virtio-blk-pci', drive: 'blk-data', id: 'disk-data', serial: 'data', bus: 'hp1' });
    expect(devs.find((d) => d.node === 'blk-data')?.iops).toBe(100);
    await control().detach('data');
    expect(commands()).toEqual(['blockdev-add', 'device_add', 'block_set_io_throttle', 'device_del', 'blockdev-del']);
    expect(nodes.size).toBe(0);
  });

  it('leaves no node behind when the device cannot be added', async () => {
    await expect(control().attach({ name: 'bad', size: 2 ** 20 }, '/v/disks/bad.qcow2')).rejects.toThrow(/Bus hp1 refused/);
    expect(commands()).toEqual(['blockdev-add', 'device_add', 'blockdev-del']);
    expect(nodes.size).toBe(0);
  });

  it('refuses when every root port is taken, and on microvm, before touching QEMU', async () => {
    ports[1]!.pci_bridge.devices.push({ qdev_id: 'disk-x' });
    await expect(control().attach({ name: 'data', size: 2 ** 20 }, '/p')).rejects.toMatchObject({ code: 'insufficient_resources', message: 'all 2 hot-plug slots of the VM are in use' });
    machineType = 'microvm-machine';
    await expect(control().attach({ name: 'data', size: 2 ** 20 }, '/p')).rejects.toMatchObject({ code: 'host_unsupported', message: expect.stringMatching(/microvm VM cannot hot-plug/) });
    expect(commands()).toEqual([]);
  });

  it('hot-plugs on pci.0 for pc machines (no bus property)', async () => {
    machineType = 'pc-i440fx-7.2-machine';
    await control().attach({ name: 'data', size: 2 ** 20 }, '/p');
    expect(server.received.find((r) => r.execute === 'device_add')?.arguments).not.toHaveProperty('bus');
  });

  it('refuses a duplicate, an unknown disk, the root disk unplug and a shrink', async () => {
    await control().attach({ name: 'data', size: 2 ** 20 }, '/p');
    await expect(control().attach({ name: 'data', size: 2 ** 20 }, '/p')).rejects.toMatchObject({ code: 'already_exists' });
    await expect(control().detach('nope')).rejects.toMatchObject({ code: 'not_found' });
    await expect(control().detach('root')).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(control().resize('root', 2 ** 29)).rejects.toMatchObject({ code: 'invalid_argument', message: 'disk "root" is 1G; it cannot shrink to 512M' });
    await expect(control().resize('root', 2 ** 30 + 100)).rejects.toMatchObject({ code: 'invalid_argument' });
    expect(commands()).toEqual(['blockdev-add', 'device_add']);
  });

  it('grows by node name and throttles by device path; undefined limits mean unlimited', async () => {
    await control().resize('root', 2 ** 31);
    expect(devs[0]?.size).toBe(2 ** 31);
    await control().throttle('root', { iops: 50, bps: 2 ** 20 });
    expect(devs[0]).toMatchObject({ iops: 50, bps: 2 ** 20 });
    await control().throttle('root', {});
    expect(devs[0]).toMatchObject({ iops: 0, bps: 0 });
    expect(server.received.find((r) => r.execute === 'block_resize')?.arguments).toEqual({ 'node-name': '#block1', size: 2 ** 31 });
  });

  it('says so when the guest does not release the disk', async () => {
    await control().attach({ name: 'data', size: 2 ** 20 }, '/p');
    server.on('device_del', () => ({}));
    await expect(control().detach('data')).rejects.toMatchObject({ code: 'timeout', message: 'the guest did not release disk "data" within 0.5 s' });
    expect(nodes.has('blk-data')).toBe(true); // still in use by the guest's device
  });

  it('reports statistics per disk name', async () => {
    devs.push({ qdev: '/machine/peripheral-anon/device[2]/virtio-backend', node: 'x', size: 1, iops: 0, bps: 0 });
    expect(await control().usage()).toEqual([{ name: 'root', readBytes: 0, writeBytes: 0, readOps: 2, writeOps: 3 }]);
  });
});
