import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { afterEach, expect, it } from 'vitest';
import { createSession, type Session } from '@lodge/api/guest';
import { hasVsockDevice } from './port-discovery.js';
import { run, startHarness, type Harness, until } from './test-harness.js';
import { BusClient } from './bus-client.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A second host session, dialling the agent's vsock side (socat listening on a unix socket stands in for AF_VSOCK). */
function vsockHost(path: string): { session: Session; published: string[]; socket: () => Socket | undefined; close(): void } {
  let socket: Socket | undefined;
  let closed = false;
  const published: string[] = [];
  const session = createSession({
    role: 'host',
    write: (b) => socket?.write(b) ?? true,
    onOpen: (stream, request) => {
      stream.on('data', (ch, chunk) => stream.consumed(ch, chunk.length));
      stream.on('end', () => {
        published.push((request as { topic: string }).topic);
        stream.finish({ delivered: 1 });
      });
    },
    helloIntervalMs: 200,
  });
  const dial = (): void => {
    if (closed) return;
    const s = connect(path);
    s.on('connect', () => {
      socket = s;
      session.connect();
    });
    s.on('data', (c: Buffer) => session.receive(c));
    s.on('error', () => undefined);
    s.on('close', () => {
      if (socket === s) {
        socket = undefined;
        session.disconnect('vsock side closed');
      }
      setTimeout(dial, 100);
    });
  };
  dial();
  return { session, published, socket: () => socket, close: () => { closed = true; socket?.destroy(); session.close(); } };
}

it('serves the port and vsock at once, a session each; guest publishes go over vsock while it is up', async () => {
  const vdir = mkdtempSync(`${tmpdir()}/lodge-two-`);
  cleanups.push(() => rmSync(vdir, { recursive: true, force: true }));
  const h: Harness = await startHarness({ vsock: { address: `UNIX-LISTEN:${vdir}/v.sock`, startAfterMs: 50 } });
  cleanups.push(() => h.close());
  const v = vsockHost(`${vdir}/v.sock`);
  cleanups.push(() => v.close());
  await until(() => v.session.ready && h.agent.vsock?.session.ready === true, 'the vsock handshake');
  expect(h.agent.session.ready).toBe(true); // the port's session is untouched by the second host session
  expect((await run(v.session, { op: 'exec', argv: ['echo', 'vsock'] })).stdout.toString()).toBe('vsock\n');
  expect((await run(h.host, { op: 'exec', argv: ['echo', 'port'] })).stdout.toString()).toBe('port\n');

  const client = new BusClient(h.busSocket);
  cleanups.push(() => client.close());
  await client.publish('jobs.a', '1');
  await until(() => v.published.includes('jobs.a'), 'the publish over vsock');
  expect(h.hostMessages.map((m) => m.topic)).not.toContain('jobs.a');

  // vsock drops (its socat ends): the port carries on, publishes go over it, and vsock comes back.
  v.socket()?.destroy();
  await until(() => h.agent.vsock?.session.ready === false, 'the agent to see vsock go');
  await client.publish('jobs.b', '2');
  await until(() => h.hostMessages.some((m) => m.topic === 'jobs.b'), 'the publish over the port');
  await until(() => v.session.ready && h.agent.vsock?.session.ready === true, 'vsock back');
  expect((await run(v.session, { op: 'info' })).result).toMatchObject({ agent: { version: expect.any(String) } });
});

it('finds a virtio vsock device by its virtio id in sysfs, not by /dev/vsock', () => {
  const root = mkdtempSync(`${tmpdir()}/lodge-sysfs-`);
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const dev = (name: string, id: string): void => {
    mkdirSync(`${root}/${name}`);
    writeFileSync(`${root}/${name}/device`, `${id}\n`);
  };
  dev('virtio0', '0x0001');
  dev('virtio1', '0x0003');
  expect(hasVsockDevice(root)).toBe(false);
  dev('virtio2', '0x0013');
  expect(hasVsockDevice(root)).toBe(true);
  expect(hasVsockDevice(`${root}/missing`)).toBe(false);
});

it('a new vsock listener first ends the one a killed agent left waiting in accept()', async () => {
  const vdir = mkdtempSync(`${tmpdir()}/lodge-orphan-`);
  cleanups.push(() => rmSync(vdir, { recursive: true, force: true }));
  const address = `UNIX-LISTEN:${vdir}/v.sock,unlink-early`;
  // What a SIGKILLed agent leaves: its socat, same arguments, still listening.
  const orphan = spawn('socat', ['-b', '65536', address, 'STDIO'], { stdio: ['pipe', 'ignore', 'ignore'] });
  cleanups.push(() => void orphan.kill('SIGKILL'));
  await until(() => existsSync(`${vdir}/v.sock`), 'the orphan to listen');
  const exited = new Promise((r) => orphan.once('exit', (_code, signal) => r(signal)));
  const h = await startHarness({ vsock: { address, startAfterMs: 0 } });
  cleanups.push(() => h.close());
  expect(await exited).toBe('SIGKILL');
  const v = vsockHost(`${vdir}/v.sock`);
  cleanups.push(() => v.close());
  await until(() => v.session.ready, 'the new listener to serve');
});
