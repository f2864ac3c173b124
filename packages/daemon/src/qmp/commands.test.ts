import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cont, humanMonitorCommand, queryCpusFast, queryStatus, queryVersion, quit, stop, systemPowerdown, systemReset } from './commands.js';
import { QmpError } from './errors.js';
import { FakeQmpFailure, FakeQmpServer, NO_REPLY } from './fake-qmp-server.js';
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

describe('QMP commands', () => {
  it('queryStatus maps the RunState', async () => {
    server.on('query-status', () => ({ status: 'prelaunch', singlestep: false, running: false }));
    expect(await queryStatus(m)).toEqual({ status: 'prelaunch', running: false });
  });

  it('queryStatus refuses an unexpected shape', async () => {
    server.on('query-status', () => ({ state: 'odd' }));
    await expect(queryStatus(m)).rejects.toThrow(/unexpected shape/);
  });

  it('run-control commands send their exact names', async () => {
    for (const c of ['cont', 'stop', 'system_powerdown', 'system_reset']) server.on(c, () => ({}));
    await cont(m);
    await stop(m);
    await systemPowerdown(m);
    await systemReset(m);
    expect(sent()).toEqual([{ execute: 'cont' }, { execute: 'stop' }, { execute: 'system_powerdown' }, { execute: 'system_reset' }]);
  });

  it('queryVersion and queryCpusFast', async () => {
    server.on('query-version', () => ({ qemu: { major: 7, minor: 2, micro: 22 }, package: 'Debian' }));
    server.on('query-cpus-fast', () => [
      { 'cpu-index': 0, 'qom-path': '/machine/unattached/device[0]', 'thread-id': 4242, target: 'x86_64', props: { 'core-id': 0 } },
    ]);
    expect(await queryVersion(m)).toEqual({ qemu: { major: 7, minor: 2, micro: 22 }, package: 'Debian' });
    expect(await queryCpusFast(m)).toEqual([
      { cpuIndex: 0, qomPath: '/machine/unattached/device[0]', threadId: 4242, target: 'x86_64', props: { 'core-id': 0 } },
    ]);
  });

  it('humanMonitorCommand passes the line verbatim and returns the text', async () => {
    server.on('human-monitor-command', (args) => `you said: ${String(args?.['command-line'])}\r\n`);
    const line = 'info "quoted" \\ back\nslash';
    expect(await humanMonitorCommand(m, line)).toBe(`you said: ${line}\r\n`);
    expect(sent()).toEqual([{ execute: 'human-monitor-command', arguments: { 'command-line': line } }]);
  });

  it('quit resolves on an acknowledgement', async () => {
    server.on('quit', () => ({}));
    await quit(m);
  });

  it('quit resolves when QEMU closes the socket without replying', async () => {
    server.on('quit', () => {
      setImmediate(() => server.dropClients());
      return NO_REPLY;
    });
    await quit(m);
    expect(m.closed).toBe(true);
  });

  it('quit does not count our own close or an already-closed monitor as success', async () => {
    server.on('quit', () => NO_REPLY);
    const pending = quit(m);
    m.close();
    await expect(pending).rejects.toThrow('QMP command "quit" failed: connection closed');
    await expect(quit(m)).rejects.toThrow(QmpError);
  });

  it('quit still reports real failures', async () => {
    server.on('quit', () => new FakeQmpFailure('GenericError', 'refused'));
    await expect(quit(m)).rejects.toThrow(QmpError);
  });
});
