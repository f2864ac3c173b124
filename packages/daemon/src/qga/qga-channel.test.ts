import type { AgentState, ExecStart } from '@lodge/api';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ExecSinks } from '../ports/guest-channel.js';
import { FakeQgaFailure, FakeQgaServer, type FakeQgaOptions } from './fake-qga-server.js';
import { createQgaChannel, type QgaChannel } from './qga-channel.js';

const open: Array<FakeQgaServer | QgaChannel> = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await (x instanceof FakeQgaServer ? x.stop() : x.close());
});

async function setup(opts?: FakeQgaOptions, callTimeoutMs?: number): Promise<{ server: FakeQgaServer; ch: QgaChannel; states: AgentState[] }> {
  const server = await FakeQgaServer.start(opts);
  const ch = createQgaChannel({ socketPath: server.path, retryMs: 20, probeTimeoutMs: 100, ...(callTimeoutMs ? { callTimeoutMs } : {}) });
  const states: AgentState[] = [];
  ch.onState((s) => states.push(s));
  open.push(server, ch);
  return { server, ch, states };
}

function collector(): { sinks: ExecSinks; out: () => string; err: () => string; events: string[] } {
  const got: Record<1 | 2, Buffer[]> = { 1: [], 2: [] };
  const events: string[] = [];
  return {
    events,
    sinks: {
      started: (pid) => void events.push(`started ${pid}`),
      output: (c, chunk, done) => {
        events.push(`output ${c}`);
        got[c].push(chunk);
        done();
      },
    },
    out: () => Buffer.concat(got[1]).toString(),
    err: () => Buffer.concat(got[2]).toString(),
  };
}

async function run(ch: QgaChannel, req: ExecStart) {
  const c = collector();
  const x = ch.exec(req, c.sinks);
  const result = await x.result;
  return { result, pid: await x.pid, out: c.out(), err: c.err(), events: c.events };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('QGA channel state', () => {
  it('stays connecting while qemu-ga is silent, becomes ready when it answers, gone on close', async () => {
    const { server, ch, states } = await setup({ started: false, staleOnConnect: true });
    expect(ch.via).toBe('qemu-guest-agent');
    expect(ch.abilities).toEqual({ streaming: false, bus: false, tty: false, folders: false, shutdown: true });
    await sleep(300);
    expect(ch.state).toBe('connecting');
    expect(ch.version).toBeUndefined();
    await expect(ch.whenReady(50)).rejects.toMatchObject({ code: 'timeout' });
    server.startAgent();
    await ch.whenReady(2_000);
    expect(ch.state).toBe('ready');
    expect(ch.version).toBe('7.2.0-fake');
    const waiting = ch.whenReady(5_000);
    ch.close();
    await expect(waiting).resolves.toBeUndefined(); // already ready when asked
    expect(states).toEqual(['ready', 'gone']);
    await expect(ch.whenReady(1_000)).rejects.toMatchObject({ code: 'invalid_state' });
  });

  it('goes back to connecting when qemu-ga stops answering, and ready again when it is back', async () => {
    const { server, ch, states } = await setup({}, 300);
    await ch.whenReady(2_000);
    server.stopAgent();
    const x = ch.exec({ argv: ['true'] }, collector().sinks);
    await expect(x.result).rejects.toMatchObject({ code: 'timeout' });
    expect(ch.state).toBe('connecting');
    server.startAgent();
    await ch.whenReady(2_000);
    expect(states).toEqual(['ready', 'connecting', 'ready']);
  });

  it('notices a silent qemu-ga through the keepalive ping, without any call', async () => {
    const server = await FakeQgaServer.start();
    const ch = createQgaChannel({ socketPath: server.path, retryMs: 20, probeTimeoutMs: 100, keepaliveMs: 30 });
    open.push(server, ch);
    await ch.whenReady(2_000);
    server.stopAgent();
    await vi.waitFor(() => expect(ch.state).toBe('connecting'), { timeout: 5_000 });
    server.startAgent();
    await ch.whenReady(5_000);
    expect(server.commands().filter((c) => c === 'guest-ping').length).toBeGreaterThan(2);
  });

  it('whenReady honours an abort signal', async () => {
    const { ch } = await setup({ started: false });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    await expect(ch.whenReady(5_000, ac.signal)).rejects.toThrow(/aborted/);
  });
});

describe('QGA exec', () => {
  it('maps exit codes, signals and output', async () => {
    const { ch } = await setup();
    await ch.whenReady(2_000);
    expect(await run(ch, { argv: ['/bin/true'] })).toMatchObject({ result: { exitCode: 0, signal: null, timedOut: false }, out: '', err: '' });
    const echo = await run(ch, { argv: ['echo', 'hi', 'there'] });
    expect(echo).toMatchObject({ result: { exitCode: 0 }, out: 'hi there\n', events: [`started ${echo.pid}`, 'output 1'] });
    expect(await run(ch, { argv: ['sh-err', '1'] })).toMatchObject({ result: { exitCode: 1, signal: null }, err: 'oops\n' });
    expect((await run(ch, { argv: ['selfkill'] })).result).toEqual({ exitCode: null, signal: 'SIGTERM', timedOut: false });
  });

  it('passes collected stdin as input-data and env with a default PATH', async () => {
    const { server, ch } = await setup();
    const c = collector();
    const x = ch.exec({ argv: ['cat'], stdin: true, env: { A: 'b' } }, c.sinks);
    await x.writeStdin(Buffer.from('hello '));
    await x.writeStdin(Buffer.from('world'));
    x.endStdin();
    await expect(x.writeStdin(Buffer.from('late'))).rejects.toThrow(/needs the Lodge agent/);
    expect(await x.result).toEqual({ exitCode: 0, signal: null, timedOut: false });
    expect(c.out()).toBe('hello world');
    const req = server.received.find((r) => r.execute === 'guest-exec');
    expect(req?.arguments).toMatchObject({ path: 'cat', arg: [], 'capture-output': true, env: [expect.stringMatching(/^PATH=/), 'A=b'] });
    await expect(ch.exec({ argv: ['true'] }, c.sinks).writeStdin(Buffer.from('x'))).rejects.toThrow(/stdin was not requested/);
  });

  it('refuses what only the Lodge agent can do, and reports a missing program', async () => {
    const { ch } = await setup();
    const sinks = collector().sinks;
    for (const req of [{ argv: ['true'], cwd: '/tmp' }, { argv: ['true'], user: 'nobody' }, { argv: ['sh'], tty: { rows: 24, cols: 80 } }]) {
      const x = ch.exec(req, sinks);
      await expect(x.result).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/needs the Lodge agent/) });
      await expect(x.pid).rejects.toThrow(/needs the Lodge agent/);
    }
    // lodge exec exits 127 for it, as through the Lodge agent.
    await expect(ch.exec({ argv: ['nope'] }, sinks).result).rejects.toMatchObject({ code: 'not_found', details: { shellStatus: 127 } });
  });

  it('kills on timeout (kill -KILL through guest-exec) and reports timedOut', async () => {
    const { server, ch } = await setup();
    const { result } = await run(ch, { argv: ['sleep', 'infinity'], timeoutMs: 100 });
    expect(result).toEqual({ exitCode: null, signal: 'SIGKILL', timedOut: true });
    expect(server.guest.started).toContainEqual(['kill', '-KILL', expect.stringMatching(/^\d+$/)]);
    await vi.waitFor(() => expect(server.guest.running).toBe(0)); // the kill helper's own exit is collected last
  });

  it('cancel and signal kill the guest process', async () => {
    const { server, ch } = await setup();
    const a = ch.exec({ argv: ['sleep', 'infinity'] }, collector().sinks);
    await a.pid;
    a.signal('TERM');
    expect(await a.result).toMatchObject({ signal: 'SIGTERM', timedOut: false });
    const b = ch.exec({ argv: ['sleep', 'infinity'] }, collector().sinks);
    await b.pid;
    b.cancel();
    expect(await b.result).toMatchObject({ signal: 'SIGKILL' });
    const c = ch.exec({ argv: ['cat'], stdin: true }, collector().sinks);
    c.cancel();
    await expect(c.result).rejects.toThrow(/cancelled before the program started/);
    expect(() => b.signal('NOPE')).toThrow(/unknown signal/);
    await vi.waitFor(() => expect(server.guest.running).toBe(0)); // the kill helper's own exit is collected last
  });
});

describe('QGA info, time, shutdown, messages', () => {
  it('fills GuestInfo from qemu-ga commands and /proc through guest-exec', async () => {
    const { ch } = await setup();
    await ch.whenReady(2_000);
    const info = await ch.info();
    expect(info).toEqual({
      os: { id: 'debian', name: 'Debian GNU/Linux', version: '12 (bookworm)', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
      kernel: { release: '6.1.0-fake', version: '#1 SMP', machine: 'x86_64' },
      hostname: 'fakevm',
      uptimeS: 123.45,
      load: [0.5, 0.25, 0.1],
      memory: { totalBytes: 1012345 * 1024, availableBytes: 900000 * 1024 },
      disks: [{ mount: '/', fs: 'ext4', totalBytes: 5000, usedBytes: 1000 }],
      addresses: [{ iface: 'eth0', family: 'ipv4', address: '10.0.2.15' }, { iface: 'eth0', family: 'ipv6', address: 'fe80::1' }],
      agent: { version: '7.2.0-fake', pid: 0, node: '' },
      timeMs: 1_700_000_000_000,
    });
    expect(ch.note).toBe('streaming, terminals, folders and messages need the Lodge agent');
  });

  it('leaves zeros and says so when guest-exec is blocked', async () => {
    const { ch } = await setup({ disabled: ['guest-exec', 'guest-get-fsinfo'] });
    await ch.whenReady(2_000);
    const info = await ch.info();
    expect(info).toMatchObject({ uptimeS: 0, load: [0, 0, 0], memory: { totalBytes: 0, availableBytes: 0 }, disks: [], hostname: 'fakevm' });
    expect(ch.note).toMatch(/not available through qemu-ga: disks, uptime, load and memory$/);
  });

  it('sets the time and reports the offset measured before', async () => {
    const { server, ch } = await setup();
    const host = 1_700_000_000_000 + 5_000;
    const { offsetMs } = await ch.setTime(host);
    expect(offsetMs).toBeGreaterThan(-6_000);
    expect(offsetMs).toBeLessThanOrEqual(-5_000);
    const set = server.received.find((r) => r.execute === 'guest-set-time');
    expect(Number(set?.arguments?.time) / 1e6).toBeGreaterThanOrEqual(host);
  });

  it('treats the missing reply to guest-shutdown as success', async () => {
    const { server, ch } = await setup();
    const t0 = Date.now();
    await ch.shutdown('reboot');
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(server.received.find((r) => r.execute === 'guest-shutdown')?.arguments).toEqual({ mode: 'reboot' });
  });

  it('falls back to poweroff through guest-exec where qemu-ga cannot run /sbin/shutdown', async () => {
    const { server, ch } = await setup();
    server.on('guest-shutdown', () => new FakeQgaFailure('GenericError', 'child process has failed to shutdown'));
    server.guest.programs.set('poweroff', () => ({ exitcode: 0 }));
    await ch.shutdown('poweroff');
    expect(server.guest.started).toContainEqual(['poweroff']);
  });

  it('refuses messages', async () => {
    const { ch } = await setup();
    await expect(ch.publish({ topic: 't', body: Buffer.from('x') })).rejects.toMatchObject({ code: 'invalid_argument', message: 'messages need the Lodge agent' });
    expect(() => ch.onPublish(async () => 0)).not.toThrow();
  });
});
