import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deviceAdd, qomGet } from './block-commands.js';
import { FakeQmpFailure, FakeQmpServer } from './fake-qmp-server.js';
import { balloon, balloonStats, qomSet, queryBalloon, queryHotpluggableCpus, queryMemorySizeSummary } from './guest-commands.js';
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

const sent = () => server.received.slice(1).map(({ execute, arguments: args }) => ({ execute, ...(args ? { arguments: args } : {}) }));
const BALLOON = '/machine/peripheral/balloon0';

describe('guest memory and vCPU commands', () => {
  it('balloon sends the target in bytes; queryBalloon reads actual', async () => {
    server.on('balloon', () => ({})).on('query-balloon', () => ({ actual: 402653184 }));
    await balloon(m, 402653184);
    expect(await queryBalloon(m)).toBe(402653184);
    expect(sent()).toEqual([{ execute: 'balloon', arguments: { value: 402653184 } }, { execute: 'query-balloon' }]);
  });

  it('queryBalloon refuses an unexpected shape and balloon reports QEMU refusing', async () => {
    server.on('query-balloon', () => ({})).on('balloon', () => new FakeQmpFailure('DeviceNotActive', 'No balloon device has been activated'));
    await expect(queryBalloon(m)).rejects.toThrow(/unexpected shape/);
    await expect(balloon(m, 1)).rejects.toThrow('QMP command "balloon" failed: DeviceNotActive: No balloon device has been activated');
  });

  it('qomSet and qomGet pass path, property and value', async () => {
    server.on('qom-set', () => ({})).on('qom-get', () => 2);
    await qomSet(m, BALLOON, 'guest-stats-polling-interval', 2);
    expect(await qomGet(m, BALLOON, 'guest-stats-polling-interval')).toBe(2);
    expect(sent()).toEqual([
      { execute: 'qom-set', arguments: { path: BALLOON, property: 'guest-stats-polling-interval', value: 2 } },
      { execute: 'qom-get', arguments: { path: BALLOON, property: 'guest-stats-polling-interval' } },
    ]);
  });

  it('balloonStats strips the prefix and leaves out stats the guest never sent (2^64-1)', async () => {
    server.on('qom-get', () => ({
      stats: { 'stat-total-memory': 1019744256, 'stat-available-memory': 715190272, 'stat-swap-in': 18446744073709551615 },
      'last-update': 1796532941,
    }));
    expect(await balloonStats(m, BALLOON)).toEqual({ lastUpdate: 1796532941, stats: { 'total-memory': 1019744256, 'available-memory': 715190272 } });
    expect(sent()).toEqual([{ execute: 'qom-get', arguments: { path: BALLOON, property: 'guest-stats' } }]);
  });

  it('balloonStats refuses an unexpected shape', async () => {
    server.on('qom-get', () => 'nope');
    await expect(balloonStats(m, BALLOON)).rejects.toThrow(/"qom-get guest-stats" returned an unexpected shape/);
  });

  it('queryMemorySizeSummary maps base and plugged memory', async () => {
    server.on('query-memory-size-summary', () => ({ 'base-memory': 1073741824, 'plugged-memory': 0 }));
    expect(await queryMemorySizeSummary(m)).toEqual({ base: 1073741824, plugged: 0 });
  });

  it('queryHotpluggableCpus maps taken and free slots; deviceAdd sends the driver, id and props flat', async () => {
    server.on('query-hotpluggable-cpus', () => [
      { props: { 'core-id': 1, 'thread-id': 0, 'socket-id': 0 }, 'vcpus-count': 1, type: 'Nehalem-x86_64-cpu' },
      { props: { 'core-id': 0, 'thread-id': 0, 'socket-id': 0 }, 'vcpus-count': 1, 'qom-path': '/machine/unattached/device[0]', type: 'Nehalem-x86_64-cpu' },
    ]).on('device_add', () => ({}));
    expect(await queryHotpluggableCpus(m)).toEqual([
      { type: 'Nehalem-x86_64-cpu', vcpusCount: 1, props: { 'core-id': 1, 'thread-id': 0, 'socket-id': 0 } },
      { type: 'Nehalem-x86_64-cpu', vcpusCount: 1, props: { 'core-id': 0, 'thread-id': 0, 'socket-id': 0 }, qomPath: '/machine/unattached/device[0]' },
    ]);
    await deviceAdd(m, { driver: 'Nehalem-x86_64-cpu', id: 'cpu-0-1-0', 'socket-id': 0, 'core-id': 1, 'thread-id': 0 });
    expect(sent().at(-1)).toEqual({
      execute: 'device_add', arguments: { driver: 'Nehalem-x86_64-cpu', id: 'cpu-0-1-0', 'socket-id': 0, 'core-id': 1, 'thread-id': 0 },
    });
  });
});
