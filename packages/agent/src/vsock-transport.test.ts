import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { afterEach, expect, it } from 'vitest';
import { createSession } from '@lodge/api/guest';
import { startAgent } from './agent-main.js';
import { run, until } from './test-harness.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

// No vhost-vsock here: a stand-in socat joins STDIO to a unix socket, exercising the agent's side of the vsock path
// (first bytes = a host is there, socat exits = disconnect, a new socat listens again). AF_VSOCK itself is untested.
it('runs sessions over a socat child, one per connection', async () => {
  const dir = mkdtempSync(`${tmpdir()}/lodge-vsock-test-`);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const fake = `${dir}/socat`;
  writeFileSync(fake, `#!/bin/sh\nexec socat STDIO UNIX-CONNECT:${dir}/host.sock,retry=50,interval=0.1\n`);
  chmodSync(fake, 0o755);
  let socket: Socket | undefined;
  const host = createSession({ role: 'host', write: (b) => socket?.write(b) ?? true, onOpen: () => undefined, helloIntervalMs: 200 });
  cleanups.push(() => host.close());
  const server = createServer((s) => {
    socket = s;
    s.on('data', (c: Buffer) => host.receive(c));
    s.on('error', () => undefined);
    host.connect();
  });
  await new Promise<void>((r) => server.listen(`${dir}/host.sock`, r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  const agent = await startAgent({ port: { kind: 'vsock', socat: fake }, ptyDir: `${dir}/pty`, helloIntervalMs: 200 });
  cleanups.push(() => agent.close());
  await until(() => host.ready && agent.session.ready, 'the handshake');
  expect((await run(host, { op: 'exec', argv: ['echo', 'over vsock'] })).stdout.toString()).toBe('over vsock\n');

  socket?.destroy();
  host.disconnect('test: host hung up');
  await until(() => !agent.session.ready, 'the agent to see the connection end');
  await until(() => host.ready && agent.session.ready, 'the next connection');
  expect((await run(host, { op: 'exec', argv: ['echo', 'again'] })).stdout.toString()).toBe('again\n');
  socket?.destroy();
});
