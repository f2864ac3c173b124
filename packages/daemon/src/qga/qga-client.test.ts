import { afterEach, describe, expect, it } from 'vitest';
import { FakeQgaFailure, FakeQgaServer, NO_REPLY, type FakeQgaOptions } from './fake-qga-server.js';
import { QgaClient } from './qga-client.js';
import { QgaError } from './qga-errors.js';

const open: Array<FakeQgaServer | QgaClient> = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await (x instanceof QgaClient ? x.close() : x.stop());
});

async function setup(opts?: FakeQgaOptions, maxLineBytes?: number): Promise<{ server: FakeQgaServer; client: QgaClient; lost: QgaError[] }> {
  const server = await FakeQgaServer.start(opts);
  const lost: QgaError[] = [];
  const client = new QgaClient({ socketPath: server.path, onUnreachable: (e) => lost.push(e), ...(maxLineBytes ? { maxLineBytes } : {}) });
  open.push(server, client);
  return { server, client, lost };
}

async function rejection(p: Promise<unknown>): Promise<QgaError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(QgaError);
  return err as QgaError;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('QgaClient', () => {
  it('syncs past stale replies, a stale delimited reply and half a line from an earlier client', async () => {
    const { server, client } = await setup({ staleOnConnect: true, errorOnDelimiter: true });
    expect(await client.execute('guest-ping')).toEqual({});
    expect(client.synced).toBe(true);
    expect(server.commands()).toEqual(['guest-sync-delimited', 'guest-ping']);
    expect(await client.execute('guest-get-host-name')).toEqual({ 'host-name': 'fakevm' });
    expect(server.commands()).toHaveLength(3); // synced once, not per call
  });

  it('times out when nobody answers, then syncs once qemu-ga starts, without piling up sync requests', async () => {
    const { server, client, lost } = await setup({ started: false });
    const t0 = Date.now();
    const err = await rejection(client.execute('guest-ping', undefined, { timeoutMs: 150 }));
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(err.code).toBe('timeout');
    expect(err.reason).toBe('timeout');
    expect(err.message).toMatch(/"guest-sync-delimited" got no reply within \d+ ms/);
    expect(lost).toHaveLength(1);
    await rejection(client.sync({ timeoutMs: 50 }));
    await rejection(client.sync({ timeoutMs: 50 }));
    server.startAgent(); // the one held sync is answered; the client was still waiting for exactly that id
    expect(await client.execute('guest-get-host-name', undefined, { timeoutMs: 2_000 })).toEqual({ 'host-name': 'fakevm' });
    expect(server.commands()).toEqual(['guest-sync-delimited', 'guest-get-host-name']);
  });

  it('ignores replies to older syncs (another client\'s, or before a reconnect)', async () => {
    const { server, client } = await setup({ started: false });
    await rejection(client.sync({ timeoutMs: 50 }));
    server.dropClients(); // the held sync belonged to the dropped connection
    await new Promise((r) => setTimeout(r, 20));
    const pending = client.execute('guest-ping', undefined, { timeoutMs: 2_000 });
    await new Promise((r) => setTimeout(r, 50));
    server.startAgent();
    expect(await pending).toEqual({});
    expect(server.commands()).toEqual(['guest-sync-delimited', 'guest-sync-delimited', 'guest-ping']);
  });

  it('does not take a timed-out call\'s late reply for the next call', async () => {
    const { server, client } = await setup();
    server.on('guest-slow', async () => {
      await sleep(150);
      return 'late';
    });
    await rejection(client.execute('guest-slow', undefined, { timeoutMs: 50 }));
    expect(client.synced).toBe(false);
    expect(await client.execute('guest-get-host-name')).toEqual({ 'host-name': 'fakevm' });
  });

  it('turns error replies into QgaErrors with class, desc and a code', async () => {
    const { server, client } = await setup({ disabled: ['guest-exec'] });
    server.on('guest-broken', () => new FakeQgaFailure('GenericError', "failed to open file '/x' (mode: 'r'): No such file or directory"));
    const notFound = await rejection(client.execute('guest-broken'));
    expect(notFound).toMatchObject({ code: 'not_found', reason: 'command', qgaClass: 'GenericError', command: 'guest-broken' });
    expect(notFound.message).toMatch(/No such file/);
    expect(notFound.details).not.toHaveProperty('shellStatus'); // only guest-exec's spawn failures have one
    const disabled = await rejection(client.execute('guest-exec', { path: 'true' }));
    expect(disabled).toMatchObject({ code: 'invalid_state', qgaClass: 'CommandNotFound' });
    expect(client.synced).toBe(true); // an error reply is a reply: no resync needed
  });

  it("gives guest-exec's spawn failures (qemu-ga's wording) a shell status: 127 not found, 126 otherwise", async () => {
    const { server, client } = await setup();
    const spawnError = (why: string) => `Guest agent command failed, error was 'Failed to execute child process “/x” (${why})'`;
    for (const [why, status] of [['No such file or directory', 127], ['Permission denied', 126], ['Exec format error', 126]] as const) {
      server.on('guest-exec', () => new FakeQgaFailure('GenericError', spawnError(why)));
      expect((await rejection(client.execute('guest-exec', { path: '/x' }))).details, why).toMatchObject({ shellStatus: status });
    }
  });

  it('runs calls one at a time, in order', async () => {
    const { server, client } = await setup();
    let inFlight = 0;
    let most = 0;
    for (const name of ['guest-a', 'guest-b', 'guest-c']) {
      server.on(name, async () => {
        most = Math.max(most, ++inFlight);
        await sleep(10);
        inFlight--;
        return name;
      });
    }
    const results = await Promise.all(['guest-c', 'guest-a', 'guest-b'].map((c) => client.execute(c)));
    expect(results).toEqual(['guest-c', 'guest-a', 'guest-b']);
    expect(server.commands().slice(1)).toEqual(['guest-c', 'guest-a', 'guest-b']);
    expect(most).toBe(1);
  });

  it('reconnects on demand after the socket drops', async () => {
    const { server, client, lost } = await setup();
    server.on('guest-hang', () => NO_REPLY);
    const hanging = client.execute('guest-hang');
    await sleep(30);
    server.dropClients();
    const err = await rejection(hanging);
    expect(err.reason).toBe('closed');
    expect(lost.map((e) => e.reason)).toEqual(['closed']);
    expect(await client.execute('guest-ping')).toEqual({});
  });

  it('drops the connection when a reply line is too long', async () => {
    const { server, client } = await setup({}, 1024);
    server.on('guest-huge', () => 'x'.repeat(4096));
    expect((await rejection(client.execute('guest-huge'))).reason).toBe('closed');
    expect(await client.execute('guest-ping')).toEqual({});
  });

  it('fails clearly when the socket does not exist', async () => {
    const client = new QgaClient({ socketPath: '/nonexistent/qga.sock' });
    open.push(client);
    const err = await rejection(client.execute('guest-ping'));
    expect(err.reason).toBe('connect');
    expect(err.message).toMatch(/ENOENT/);
  });

  it('close() rejects the call in flight and every queued call', async () => {
    const { server, client } = await setup();
    server.on('guest-hang', () => NO_REPLY);
    const a = client.execute('guest-hang');
    const b = client.execute('guest-ping');
    await sleep(30);
    client.close();
    expect((await rejection(a)).code).toBe('invalid_state');
    expect((await rejection(b)).message).toMatch(/guest channel is closed/);
  });
});
