import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeQmpFailure, FakeQmpServer } from '../qmp/fake-qmp-server.js';
import { QmpMonitor } from '../qmp/monitor.js';
import { guestResources } from './guest-resources.js';
import type { GuestResourcesControl } from './runtime-controls.js';

const MiB = 2 ** 20;
const CPU = 'Nehalem-x86_64-cpu';

/** A fake QEMU with a 1 GiB guest, 4 vCPU slots (1 taken), a balloon and a guest that reported its memory. */
function fakeMachine(server: FakeQmpServer, opts: { hotplug?: boolean; balloon?: boolean; inUse?: number } = {}) {
  const state = { actual: 1024 * MiB, taken: [0], polling: 0 };
  const slot = (core: number) => ({
    type: CPU, 'vcpus-count': 1, props: { 'socket-id': 0, 'core-id': core, 'thread-id': 0 },
    ...(state.taken.includes(core) ? { 'qom-path': core === 0 ? '/machine/unattached/device[0]' : `/machine/peripheral/vcpu-0-${core}-0` } : {}),
  });
  const noBalloon = new FakeQmpFailure('DeviceNotActive', 'No balloon device has been activated');
  server
    .on('query-memory-size-summary', () => ({ 'base-memory': 1024 * MiB, 'plugged-memory': 0 }))
    .on('query-balloon', () => (opts.balloon === false ? noBalloon : { actual: state.actual }))
    .on('balloon', (a) => (opts.balloon === false ? noBalloon : void (state.actual = Number(a?.value))))
    .on('qom-set', (a) => (opts.balloon === false ? new FakeQmpFailure('DeviceNotFound', 'not found') : void (state.polling = Number(a?.value))))
    .on('qom-get', () => ({
      stats: { 'stat-total-memory': state.actual - 30 * MiB, 'stat-available-memory': state.actual - 30 * MiB - (opts.inUse ?? 80 * MiB) },
      'last-update': 1796532941,
    }))
    .on('query-cpus-fast', () => state.taken.map((core, i) => ({ 'cpu-index': i, 'qom-path': 'x', 'thread-id': 100 + i, target: 'x86_64' })))
    .on('query-hotpluggable-cpus', () => (opts.hotplug === false ? new FakeQmpFailure('GenericError', "The feature 'query-hotpluggable-cpus' is not enabled") : [3, 2, 1, 0].map(slot)))
    .on('device_add', (a) => void state.taken.push(Number(a?.['core-id'])));
  return state;
}

let server: FakeQmpServer;
let m: QmpMonitor;
let guest: GuestResourcesControl;
beforeEach(async () => {
  server = await FakeQmpServer.start();
});
afterEach(async () => {
  m.close();
  await server.stop();
});
const start = async (): Promise<void> => {
  m = await QmpMonitor.connect({ path: server.path });
  guest = await guestResources(() => m);
};
const commands = (name: string) => server.received.filter((r) => r.execute === name).map((r) => r.arguments);

describe('guest memory through the balloon', () => {
  it('turns on statistics polling and reports balloon, guest total and available memory', async () => {
    const state = fakeMachine(server);
    await start();
    expect(state.polling).toBe(2);
    expect(await guest.usage()).toEqual({ vcpus: 1, balloonBytes: 1024 * MiB, guestMem: { totalBytes: 994 * MiB, availableBytes: 914 * MiB } });
    expect(await guest.bounds()).toEqual({ memoryBytes: 1024 * MiB, maxCpus: 4 });
  });

  it('sets the balloon target within boot memory and above the floor', async () => {
    const state = fakeMachine(server);
    await start();
    await guest.setMemory(384 * MiB);
    expect(state.actual).toBe(384 * MiB);
    await guest.setMemory(1024 * MiB);
    expect(commands('balloon')).toEqual([{ value: 384 * MiB }, { value: 1024 * MiB }]);
  });

  it('refuses more than boot memory, less than the floor or than the guest uses, and changes nothing', async () => {
    fakeMachine(server, { inUse: 300 * MiB });
    await start();
    await expect(guest.setMemory(2048 * MiB)).rejects.toMatchObject({ code: 'invalid_argument', message: 'memory 2G is more than the 1G this VM was started with' });
    await expect(guest.setMemory(64 * MiB)).rejects.toMatchObject({ code: 'invalid_argument', message: 'memory 64M is below the 300M the guest uses now' });
    await expect(guest.setMemory(0)).rejects.toMatchObject({ code: 'invalid_argument' });
    expect(commands('balloon')).toEqual([]);
  });

  it('has a fixed floor of 128M when the guest uses less', async () => {
    fakeMachine(server, { inUse: 50 * MiB });
    await start();
    await expect(guest.setMemory(100 * MiB)).rejects.toMatchObject({ message: 'memory 100M is below the floor of 128M', hint: expect.stringContaining('at least 128M') });
    await guest.setMemory(128 * MiB);
  });

  it('says a VM without a balloon device needs a restart, and reports no balloon figures', async () => {
    fakeMachine(server, { balloon: false });
    await start();
    await expect(guest.setMemory(512 * MiB)).rejects.toMatchObject({ code: 'host_unsupported', hint: expect.stringContaining('restart') });
    expect(await guest.usage()).toMatchObject({ vcpus: 1 });
  });
});

describe('vCPU hot-add', () => {
  it('adds vCPUs into the lowest free slots with the slot\'s type and topology', async () => {
    const state = fakeMachine(server);
    await start();
    await guest.setVcpus(3);
    expect(commands('device_add')).toEqual([
      { driver: CPU, id: 'vcpu-0-1-0', 'socket-id': 0, 'core-id': 1, 'thread-id': 0 },
      { driver: CPU, id: 'vcpu-0-2-0', 'socket-id': 0, 'core-id': 2, 'thread-id': 0 },
    ]);
    expect(state.taken).toEqual([0, 1, 2]);
    await guest.setVcpus(3); // already there: nothing to do
    expect(commands('device_add')).toHaveLength(2);
  });

  it('refuses fewer vCPUs, more than the slots, and machines without hotplug, adding nothing', async () => {
    fakeMachine(server);
    await start();
    await expect(guest.setVcpus(5)).rejects.toMatchObject({ code: 'invalid_argument', message: 'this VM was started with room for 4 vCPUs; 5 needs a restart' });
    await guest.setVcpus(2);
    await expect(guest.setVcpus(1)).rejects.toMatchObject({ code: 'invalid_state', message: 'a running VM cannot lose vCPUs (it has 2, asked for 1)' });
    await expect(guest.setVcpus(0)).rejects.toMatchObject({ code: 'invalid_argument' });
    expect(commands('device_add')).toHaveLength(1);
  });

  it('on microvm (no query-hotpluggable-cpus) refuses hot-add and counts the booted vCPUs as the maximum', async () => {
    fakeMachine(server, { hotplug: false });
    await start();
    await expect(guest.setVcpus(2)).rejects.toMatchObject({ code: 'host_unsupported', hint: expect.stringContaining('next start') });
    expect((await guest.bounds()).maxCpus).toBe(1);
    expect(commands('device_add')).toEqual([]);
  });

  it('says how many vCPUs the VM has when QEMU refuses one', async () => {
    fakeMachine(server);
    server.on('device_add', () => new FakeQmpFailure('GenericError', 'out of luck'));
    await start();
    await expect(guest.setVcpus(2)).rejects.toMatchObject({ code: 'qemu_failed', message: expect.stringMatching(/refused vCPU 2 of 2; the VM has 1 now: .*out of luck/) });
  });
});
