import type { QmpCallOptions, QmpMonitor } from './monitor.js';

// Typed QMP commands for disks: block nodes, guest devices, resize, I/O throttling and statistics.

/** One attached block backend, as query-block reports it (only the fields we use). */
export interface QmpBlock {
  /** BlockBackend name ("root" for a -drive), "" for one made by device_add. */
  device: string;
  /** The guest device's id or QOM path, e.g. /machine/peripheral/disk-data/virtio-backend. */
  qdev?: string;
  nodeName?: string;
  virtualSize?: number;
  iops?: number;
  bps?: number;
}

export interface QmpBlockStats {
  qdev?: string;
  readBytes: number;
  writeBytes: number;
  readOps: number;
  writeOps: number;
}

/** A device of query-pci: bridges list the devices behind them. */
export interface QmpPciDevice {
  qdevId: string;
  bridgeDevices?: QmpPciDevice[];
}

export async function blockdevAdd(m: QmpMonitor, options: Record<string, unknown>, opts?: QmpCallOptions): Promise<void> {
  await m.execute('blockdev-add', options, opts);
}

export async function blockdevDel(m: QmpMonitor, nodeName: string, opts?: QmpCallOptions): Promise<void> {
  await m.execute('blockdev-del', { 'node-name': nodeName }, opts);
}

/** Adds a guest device; `props` are the same as -device's (driver, id, bus, …). */
export async function deviceAdd(m: QmpMonitor, props: Record<string, unknown> & { driver: string }, opts?: QmpCallOptions): Promise<void> {
  await m.execute('device_add', props, opts);
}

/** Asks for an unplug; the guest must agree, DEVICE_DELETED says when it is gone. */
export async function deviceDel(m: QmpMonitor, id: string, opts?: QmpCallOptions): Promise<void> {
  await m.execute('device_del', { id }, opts);
}

export async function blockResize(m: QmpMonitor, nodeName: string, size: number, opts?: QmpCallOptions): Promise<void> {
  await m.execute('block_resize', { 'node-name': nodeName, size }, opts);
}

/** Sets a guest device's total IOPS and bytes/s limits; 0 means unlimited. */
export async function blockSetIoThrottle(m: QmpMonitor, qdev: string, limits: { iops: number; bps: number }, opts?: QmpCallOptions): Promise<void> {
  const zero = { bps_rd: 0, bps_wr: 0, iops_rd: 0, iops_wr: 0 };
  await m.execute('block_set_io_throttle', { id: qdev, iops: limits.iops, bps: limits.bps, ...zero }, opts);
}

type RawBlock = { device: string; qdev?: string; inserted?: { 'node-name'?: string; iops?: number; bps?: number; image?: { 'virtual-size'?: number } } };

export async function queryBlock(m: QmpMonitor, opts?: QmpCallOptions): Promise<QmpBlock[]> {
  const r = await m.execute<RawBlock[]>('query-block', undefined, opts);
  return r.map((b) => ({
    device: b.device,
    qdev: b.qdev,
    nodeName: b.inserted?.['node-name'],
    virtualSize: b.inserted?.image?.['virtual-size'],
    iops: b.inserted?.iops,
    bps: b.inserted?.bps,
  }));
}

type RawStats = { qdev?: string; stats: { rd_bytes: number; wr_bytes: number; rd_operations: number; wr_operations: number } };

export async function queryBlockstats(m: QmpMonitor, opts?: QmpCallOptions): Promise<QmpBlockStats[]> {
  const r = await m.execute<RawStats[]>('query-blockstats', undefined, opts);
  return r.map(({ qdev, stats: s }) => ({ qdev, readBytes: s.rd_bytes, writeBytes: s.wr_bytes, readOps: s.rd_operations, writeOps: s.wr_operations }));
}

type RawPci = { qdev_id?: string; pci_bridge?: { devices?: RawPci[] } };
const pciDevice = (d: RawPci): QmpPciDevice => ({
  qdevId: d.qdev_id ?? '',
  ...(d.pci_bridge ? { bridgeDevices: (d.pci_bridge.devices ?? []).map(pciDevice) } : {}),
});

/** The devices on the root PCI bus (bus 0), bridges with what sits behind them. */
export async function queryPci(m: QmpMonitor, opts?: QmpCallOptions): Promise<QmpPciDevice[]> {
  const r = await m.execute<{ bus: number; devices: RawPci[] }[]>('query-pci', undefined, opts);
  return r.flatMap((bus) => bus.devices.map(pciDevice));
}

/** A QOM property, e.g. the machine's type name at /machine "type". */
export async function qomGet<T = unknown>(m: QmpMonitor, path: string, property: string, opts?: QmpCallOptions): Promise<T> {
  return m.execute<T>('qom-get', { path, property }, opts);
}
