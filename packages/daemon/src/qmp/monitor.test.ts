import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LodgeError } from '@lodge/api';
import { afterEach, describe, expect, it } from 'vitest';
import { QmpError } from './errors.js';
import { FakeQmpFailure, FakeQmpServer, NO_REPLY } from './fake-qmp-server.js';
import { QmpMonitor } from './monitor.js';

const open: Array<{ stop(): Promise<void> } | QmpMonitor> = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await (x instanceof QmpMonitor ? x.close() : x.stop());
});

async function setup(opts?: Parameters<typeof FakeQmpServer.start>[0]): Promise<{ server: FakeQmpServer; m: QmpMonitor }> {
  const server = await FakeQmpServer.start(opts);
  open.push(server);
  const m = await QmpMonitor.connect({ path: server.path, timeoutMs: 2_000 });
  open.push(m);
  return { server, m };
}

async function rejection(p: Promise<unknown>): Promise<QmpError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(QmpError);
  return err as QmpError;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('QmpMonitor.connect', () => {
  it('waits for the greeting and negotiates capabilities', async () => {
    const { server, m } = await setup();
    expect(m.greeting).toEqual({ version: { qemu: { major: 7, minor: 2, micro: 0 }, package: 'fake' }, capabilities: ['oob'] });
    expect(server.received).toEqual([{ execute: 'qmp_capabilities', id: expect.any(String) }]);
    expect(m.closed).toBe(false);
  });

  it('times out when the server never greets (monitor taken by another client)', async () => {
    const server = await FakeQmpServer.start({ greeting: null });
    open.push(server);
    const t0 = Date.now();
    const err = await rejection(QmpMonitor.connect({ path: server.path, timeoutMs: 150 }));
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(err.code).toBe('timeout');
    expect(err.message).toBe(`QMP connect to ${server.path} timed out after 150 ms during greeting`);
    await sleep(20);
    expect(server.clientCount).toBe(0); // the half-open connection was closed
  });

  it('honours abort while waiting for the greeting', async () => {
    const server = await FakeQmpServer.start({ greeting: null });
    open.push(server);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    const err = await rejection(QmpMonitor.connect({ path: server.path, signal: ac.signal }));
    expect(err.reason).toBe('aborted');
    expect(err.message).toMatch(/aborted/);
  });

  it('rejects clearly when the socket does not exist', async () => {
    const err = await rejection(QmpMonitor.connect({ path: '/nonexistent/lodge/qmp.sock' }));
    expect(err).toBeInstanceOf(LodgeError);
    expect(err.code).toBe('qemu_failed');
    expect(err.reason).toBe('connect');
    expect(err.message).toBe('cannot connect to QMP socket /nonexistent/lodge/qmp.sock: no such socket (ENOENT)');
    expect(err.hint).toMatch(/-qmp unix:/);
  });

  it('rejects clearly when nothing listens on the path', async () => {
    const server = await FakeQmpServer.start();
    open.push(server);
    const path = join(server.path, '..', 'stale.sock');
    writeFileSync(path, '');
    const err = await rejection(QmpMonitor.connect({ path }));
    expect(err.message).toBe(`cannot connect to QMP socket ${path}: nothing is listening (ECONNREFUSED)`);
  });

  it('fails when negotiation is refused', async () => {
    const server = await FakeQmpServer.start();
    open.push(server);
    server.on('qmp_capabilities', () => new FakeQmpFailure('GenericError', 'nope'));
    const err = await rejection(QmpMonitor.connect({ path: server.path }));
    expect(err.message).toBe('QMP command "qmp_capabilities" failed: GenericError: nope');
  });

  it('fails when the server hangs up before greeting', async () => {
    const server = await FakeQmpServer.start({ greeting: null });
    open.push(server);
    const p = QmpMonitor.connect({ path: server.path });
    while (server.clientCount === 0) await sleep(5);
    server.dropClients();
    const err = await rejection(p);
    expect(err.message).toBe(`QMP socket ${server.path} closed by QEMU during greeting`);
  });
});

describe('QmpMonitor.execute', () => {
  it('matches replies by id when they come back out of order', async () => {
    const { server, m } = await setup();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    server.on('slow', async () => {
      await gate;
      return { which: 'slow' };
    });
    server.on('fast', (args) => ({ which: 'fast', args }));
    const order: string[] = [];
    const slow = m.execute('slow').then((v) => (order.push('slow'), v));
    const fast = m.execute('fast', { n: 1 }).then((v) => (order.push('fast'), v));
    expect(await fast).toEqual({ which: 'fast', args: { n: 1 } });
    release();
    expect(await slow).toEqual({ which: 'slow' });
    expect(order).toEqual(['fast', 'slow']);
    const ids = server.received.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id) => typeof id === 'string')).toBe(true);
  });

  it('turns an error reply into a QmpError with class and desc', async () => {
    const { server, m } = await setup();
    server.on('cont', () => {
      throw new FakeQmpFailure('GenericError', "Resetting the Virtual Machine is required");
    });
    const err = await rejection(m.execute('cont'));
    expect(err).toBeInstanceOf(LodgeError);
    expect(err).toMatchObject({ code: 'qemu_failed', reason: 'command', command: 'cont', qmpClass: 'GenericError' });
    expect(err.message).toBe('QMP command "cont" failed: GenericError: Resetting the Virtual Machine is required');
    expect((await rejection(m.execute('no-such'))).qmpClass).toBe('CommandNotFound');
    expect(m.closed).toBe(false);
  });

  it('rejects arguments that cannot be JSON without sending anything', async () => {
    const { server, m } = await setup();
    const err = await rejection(m.execute('x', { n: 1n }));
    expect(err).toMatchObject({ code: 'invalid_argument', command: 'x' });
    expect(err.message).toMatch(/^QMP command "x" has arguments that are not JSON: /);
    await sleep(20);
    expect(server.received).toHaveLength(1);
  });

  it('times out a command and drops its late reply', async () => {
    const { server, m } = await setup();
    server.on('slow', async () => (await sleep(100), 'late'));
    server.on('ping', () => 'pong');
    const err = await rejection(m.execute('slow', undefined, { timeoutMs: 30 }));
    expect(err).toMatchObject({ code: 'timeout', reason: 'timeout', command: 'slow' });
    expect(err.message).toBe('QMP command "slow" got no reply within 30 ms');
    await sleep(120);
    expect(await m.execute('ping')).toBe('pong');
  });

  it('aborts a pending command, and never sends one whose signal is already aborted', async () => {
    const { server, m } = await setup();
    server.on('hang', () => NO_REPLY);
    const ac = new AbortController();
    const p = m.execute('hang', undefined, { signal: ac.signal });
    await server.waitForCommand('hang');
    ac.abort(new Error('user gave up'));
    const err = await rejection(p);
    expect(err).toMatchObject({ reason: 'aborted', command: 'hang', code: 'internal' });
    expect((err.cause as Error).message).toBe('user gave up');
    const before = server.received.length;
    const timedOut = await rejection(m.execute('hang', undefined, { signal: AbortSignal.abort(new DOMException('t', 'TimeoutError')) }));
    expect(timedOut.code).toBe('timeout');
    await sleep(20);
    expect(server.received.length).toBe(before);
  });

  it('rejects every pending command when QEMU closes the socket', async () => {
    const { server, m } = await setup();
    server.on('hang', () => NO_REPLY);
    const closes: Array<Error | undefined> = [];
    m.onClose((e) => closes.push(e));
    const a = m.execute('hang');
    const b = m.execute('hang');
    await sleep(20);
    server.dropClients();
    for (const err of [await rejection(a), await rejection(b)]) {
      expect(err.reason).toBe('closed');
      expect(err.message).toBe(`QMP command "hang" failed: connection closed (QMP socket ${server.path} closed by QEMU)`);
    }
    expect(m.closed).toBe(true);
    expect(closes).toHaveLength(1);
    expect(closes[0]?.message).toMatch(/closed by QEMU/);
    expect((await rejection(m.execute('later'))).reason).toBe('closed');
  });

  it('close() is idempotent and rejects pending commands', async () => {
    const { server, m } = await setup();
    server.on('hang', () => NO_REPLY);
    const closes: Array<Error | undefined> = [];
    m.onClose((e) => closes.push(e));
    const p = m.execute('hang');
    m.close();
    m.close();
    expect((await rejection(p)).message).toBe('QMP command "hang" failed: connection closed');
    expect(closes).toEqual([undefined]);
    const late: Array<Error | undefined> = [];
    m.onClose((e) => late.push(e));
    await Promise.resolve();
    expect(late).toEqual([undefined]);
  });
});

describe('QmpMonitor stream handling', () => {
  it('closes with a clear error on garbage, without crashing', async () => {
    const { server, m } = await setup();
    server.on('hang', () => NO_REPLY);
    const closed = new Promise<Error | undefined>((r) => m.onClose(r));
    const p = m.execute('hang');
    server.sendRaw('this is not json\r\n');
    const err = await closed;
    expect(err?.message).toBe('QMP protocol error: invalid JSON from QEMU: "this is not json\\r"');
    expect((await rejection(p)).message).toMatch(/connection closed \(QMP protocol error: invalid JSON/);
    expect(m.closed).toBe(true);
  });

  it('closes on an over-long line as soon as it passes the limit', async () => {
    const { server, m } = await setup();
    const closed = new Promise<Error | undefined>((r) => m.onClose(r));
    server.sendRaw(Buffer.alloc(8 * 1024 * 1024 + 1, 0x61)); // no newline ever comes
    expect((await closed)?.message).toBe('QMP protocol error: line longer than 8388608 bytes');
  });

  it('rejects a reply without id (it cannot be matched)', async () => {
    const { server, m } = await setup();
    const closed = new Promise<Error | undefined>((r) => m.onClose(r));
    server.sendRaw('{"error": {"class": "GenericError", "desc": "JSON parse error"}}\r\n');
    expect((await closed)?.message).toMatch(/reply without id/);
  });

  it('handles a greeting trickling in byte by byte and many messages in one chunk', async () => {
    const server = await FakeQmpServer.start({ greeting: null });
    open.push(server);
    const p = QmpMonitor.connect({ path: server.path, timeoutMs: 5_000 });
    while (server.clientCount === 0) await sleep(5);
    const greeting = Buffer.from('{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "é"}, "capabilities": []}}\r\n');
    for (const byte of greeting) {
      server.sendRaw(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    const m = await p;
    open.push(m);
    expect(m.greeting.version.package).toBe('é');
    const seen: string[] = [];
    m.onEvent((ev) => seen.push(ev.event));
    const done = m.waitForEvent('E5');
    server.sendRaw([1, 2, 3, 4, 5].map((i) => `{"event": "E${i}", "timestamp": {"seconds": 1, "microseconds": 2}}\r\n`).join(''));
    await done;
    expect(seen).toEqual(['E1', 'E2', 'E3', 'E4', 'E5']);
  });
});

describe('QmpMonitor events', () => {
  it('delivers events with data and timestamp; unsubscribe stops delivery', async () => {
    const { server, m } = await setup();
    const seen: unknown[] = [];
    const off = m.onEvent((ev) => seen.push(ev));
    server.emitEvent('STOP');
    server.emitEvent('SHUTDOWN', { guest: true, reason: 'guest-shutdown' });
    await m.waitForEvent('SHUTDOWN');
    expect(seen).toEqual([
      { event: 'STOP', timestamp: { seconds: expect.any(Number), microseconds: expect.any(Number) } },
      { event: 'SHUTDOWN', data: { guest: true, reason: 'guest-shutdown' }, timestamp: expect.any(Object) },
    ]);
    off();
    server.emitEvent('RESUME');
    await m.waitForEvent('RESUME');
    expect(seen).toHaveLength(2);
  });

  it('waitForEvent filters with a predicate, times out, aborts and fails on close', async () => {
    const { server, m } = await setup();
    const wanted = m.waitForEvent('BLOCK_JOB_COMPLETED', { predicate: (ev) => ev.data?.device === 'disk1' });
    server.emitEvent('BLOCK_JOB_COMPLETED', { device: 'disk0' });
    server.emitEvent('BLOCK_JOB_COMPLETED', { device: 'disk1' });
    expect((await wanted).data).toEqual({ device: 'disk1' });

    const timeout = await rejection(m.waitForEvent('NEVER', { timeoutMs: 20 }));
    expect(timeout).toMatchObject({ code: 'timeout', message: 'QMP event NEVER did not arrive within 20 ms' });
    expect((await rejection(m.waitForEvent('NEVER', { signal: AbortSignal.abort() }))).reason).toBe('aborted');

    const onClose = m.waitForEvent('NEVER');
    server.dropClients();
    expect((await rejection(onClose)).message).toMatch(/closed while waiting for event NEVER/);
  });

  it('a throwing listener neither stops other listeners nor the stream', async () => {
    const { server, m } = await setup();
    const seen: string[] = [];
    const uncaught: unknown[] = [];
    const handler = (e: unknown) => uncaught.push(e);
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', handler);
    try {
      m.onEvent(() => {
        throw new Error('listener bug');
      });
      m.onEvent((ev) => seen.push(ev.event));
      server.emitEvent('A');
      server.emitEvent('B');
      await m.waitForEvent('B');
      await sleep(10);
    } finally {
      process.off('uncaughtException', handler);
      for (const l of listeners) process.on('uncaughtException', l);
    }
    expect(seen).toEqual(['A', 'B']);
    expect(uncaught).toHaveLength(2);
    expect(m.closed).toBe(false);
  });
});
