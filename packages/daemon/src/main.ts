#!/usr/bin/env node
// Composition root: the one place that builds concrete objects and wires them together.
import { mkdir } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { destination, pino } from 'pino';
import { DAEMON_NODE_FLAGS, LodgeError } from '@lodge/api';
import { createAgentChannel } from './agent/agent-channel.js';
import { EventBus } from './core/event-bus.js';
import { GuestService } from './core/guest-service.js';
import { HostService } from './core/host-service.js';
import { ImageService } from './core/image-service.js';
import { forwardLimitHits } from './core/limit-events.js';
import { MetricsSampler } from './core/metrics-sampler.js';
import { Operations } from './core/operations.js';
import type { Services } from './core/services.js';
import type { GuestLinks } from './ports/guest-channel.js';
import type { HostPort, ImageCatalog } from './ports/vm-driver.js';
import { KeyedLock } from './core/keyed-lock.js';
import { onlineGuestCpus } from './core/guest-cpus.js';
import { growFilesystemNote } from './core/guest-disks.js';
import { VmDisks } from './core/vm-disks.js';
import { VmInventory } from './core/vm-inventory.js';
import { VmSettings, type GuestFollowUp } from './core/vm-settings.js';
import { VmLifecycle } from './core/vm-lifecycle.js';
import { VmRecords } from './core/vm-records.js';
import { hostCgroups } from './cgroup/host-cgroups.js';
import { probeCgroups } from './host/cgroup-probe.js';
import { probeHost } from './host/host-probe.js';
import { readMemInfo } from './host/meminfo.js';
import { locateQemu } from './host/qemu-binaries.js';
import { readHostKhz } from './host/tsc-khz.js';
import { probeVsock } from './host/vsock-probe.js';
import { buildImage, getImage, importImage, listImages, removeImage } from './images/image-store.js';
import { diskFacts } from './images/overlay-disk.js';
import { QemuDriver, type QemuBinaries } from './qemu/qemu-driver.js';
import { createQgaChannel } from './qga/index.js';
import { listenApi } from './server/api-server.js';
import { openDatabase } from './store/database.js';
import { EventTable } from './store/event-table.js';
import { SampleTable } from './store/sample-table.js';
import { VmTable } from './store/vm-table.js';
import { acquireDaemonLock } from './sys/daemon-lock.js';
import { dataFolder, defaultDataRoot } from './sys/data-folder.js';
import { loadSettings } from './sys/settings.js';

/** Located on every use (a few access() calls), so installing QEMU needs no daemon restart. */
async function qemuBinary(which: 'system' | 'img'): Promise<string> {
  const q = await locateQemu();
  const path = q[which];
  if (path) return path;
  const pkg = which === 'system' ? 'qemu-system-x86' : 'qemu-utils';
  throw new LodgeError('host_unsupported', q.note ?? `QEMU (${pkg}) is not installed`, { hint: `install it with: apt-get install ${pkg}` });
}
const qemuBinaries: QemuBinaries = { system: () => qemuBinary('system'), img: () => qemuBinary('img') };

async function main(): Promise<void> {
  const folder = dataFolder(defaultDataRoot());
  await mkdir(folder.root, { recursive: true, mode: 0o700 });
  await Promise.all([mkdir(folder.imagesDir, { recursive: true }), mkdir(folder.file('vms'), { recursive: true })]);
  // Synchronous: the log is small, and an early exit must not lose (or crash on) unflushed lines.
  const log = pino({ base: { pid: process.pid } }, destination({ dest: folder.file('log'), append: true, mkdir: true, sync: true }));
  const settings = await loadSettings(folder.file('config'));
  // Before the store is opened: two daemons must never both re-attach to the same QEMUs.
  const lock = await acquireDaemonLock(folder.file('pid'));

  const db = openDatabase(folder.file('db'));
  const bus = new EventBus(new EventTable(db));
  bus.subscribe((ev) => ev.type !== 'vm.metrics' && log.info({ event: ev }, ev.type)); // samples have their own table
  const ops = new Operations(bus);
  const vsock = probeVsock(); // once per daemon start: the module may be loaded after boot
  const host: HostPort = {
    info: async (o) => ({ ...(await probeHost({ dataDir: folder.root, refresh: o?.refresh })), vsock: await vsock }),
    resources: async () => ({ ...(await readMemInfo()), cpus: cpus().length }),
  };
  const catalog: ImageCatalog = {
    get: (name) => getImage(folder.imagesDir, name),
    list: () => listImages(folder.imagesDir),
    build: (name, o) => buildImage(name, { imagesDir: folder.imagesDir, ...o }),
    import: (request, o) => importImage({ imagesDir: folder.imagesDir, request, ...o }),
    remove: (name, confirmUnused) => removeImage(folder.imagesDir, name, confirmUnused),
    diskFacts: async (image) => diskFacts(await qemuBinaries.img(), join(image.folder, image.disk)),
  };
  const cgroups = await hostCgroups({ ...(await probeCgroups()), dataRoot: folder.root });
  const driver = new QemuDriver(folder, qemuBinaries, () => readHostKhz(), cgroups);
  const records = new VmRecords(new VmTable(db), bus, driver.folderOf);
  const guestLog = log.child({ part: 'guest' });
  const links: GuestLinks = {
    lodgeAgent: (vm, vsockCid) => createAgentChannel({ socketPath: folder.vmFile(vm, 'agent'), vsockCid, logger: guestLog.child({ vm }) }),
    qemuGuestAgent: (vm) => createQgaChannel({ socketPath: folder.vmFile(vm, 'qga'), logger: guestLog.child({ vm, via: 'qemu-guest-agent' }) }),
  };
  const guest = new GuestService({ links, records, events: bus, log: guestLog });
  const lifecycle = new VmLifecycle({ records, ops, driver, images: catalog, host, guest, overcommit: settings.overcommit, stopTimeout: settings.stopTimeout });
  forwardLimitHits(lifecycle, bus); // before recover(): re-attached runtimes report their limit hits too
  const metricsLog = log.child({ part: 'metrics' });
  const metrics = new MetricsSampler({
    lifecycle,
    records,
    guest,
    samples: new SampleTable(db),
    bus,
    intervalMs: settings.metrics.interval * 1000,
    retentionMs: settings.metrics.retention * 1000,
    guestIntervalMs: settings.metrics.guestInterval * 1000,
    onError: (vm, err) => metricsLog.debug({ vm, err: (err as Error).message }, 'sample skipped'),
  });
  const followUp: GuestFollowUp = {
    onlineCpus: (vm, count) => onlineGuestCpus(guest, vm, count),
    growFilesystem: (vm, disk) => growFilesystemNote(guest, vm, disk, async () => (await driver.diskFile(vm, disk)).sizeBytes),
  };
  const locks = new KeyedLock();
  const vms = new VmInventory({ records, driver, images: catalog, lifecycle, host });
  const services: Services = {
    vms,
    lifecycle,
    settings: new VmSettings({ records, lifecycle, driver, host, guest: followUp, locks }),
    disks: new VmDisks({ records, lifecycle, driver, guest: followUp, locks }),
    images: new ImageService({ catalog, ops, usersOf: (image) => vms.usersOf(image), dependentsOf: (image) => vms.dependentsOf(image) }),
    host: new HostService({ host, lifecycle, usage: () => metrics.usage() }),
    ops,
    bus,
    guest,
    metrics,
  };

  await lifecycle.recover();
  // After re-attaching: what is left empty belongs to VMs whose QEMU is gone (a crash of lodged or the host).
  const staleGroups = await cgroups.removeStale().catch(() => []);
  if (staleGroups.length > 0) log.info({ vms: staleGroups }, 'removed stale cgroups');
  metrics.start();
  const api = await listenApi(services, folder.file('socket'));
  log.info({ root: folder.root }, 'lodged listening');
  const missingFlags = DAEMON_NODE_FLAGS.filter((f) => !process.execArgv.includes(f));
  if (missingFlags.length > 0) {
    log.warn({ missingFlags }, 'node was started without these flags: copies and large exec output cost lodged several times the CPU (start it with lodge daemon or bin/lodged)');
  }
  process.stdout.write(`lodged ${process.pid} serving ${folder.file('socket')}\n`);

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'lodged stopping; VMs keep running');
    await api.close();
    await metrics.stop();
    lifecycle.detachAll();
    db.close();
    await lock.release();
    log.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
}

main().catch((err: unknown) => {
  const e = LodgeError.from(err);
  process.stderr.write(`lodged: ${e.message}${e.hint ? `\n  hint: ${e.hint}` : ''}\n`);
  process.exit(1);
});
