import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { afterEach, expect, it } from 'vitest';
import { createSession } from '@lodge/api/guest';
import { startAgent, type Agent } from './agent-main.js';
import { run, until, openWriter } from './test-harness.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

// The FIFO pair behaves like the virtio port: the reader thread sees end-of-file when the host closes its end.
it('reads the port in a worker, resyncs after end-of-file and serves again', async () => {
  const dir = mkdtempSync(`${tmpdir()}/lodge-port-test-`);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('mkfifo', [`${dir}/in`, `${dir}/out`]);
  const fromAgent = new Socket({ fd: openSync(`${dir}/out`, 'r+'), readable: true, writable: false });
  cleanups.push(() => void fromAgent.destroy());
  const agent: Agent = await startAgent({ port: { kind: 'fifo', input: `${dir}/in`, output: `${dir}/out` }, ptyDir: `${dir}/pty`, helloIntervalMs: 200 });
  cleanups.push(() => agent.close());
  let toAgent = await openWriter(`${dir}/in`);
  cleanups.push(() => void toAgent.destroy());
  const host = createSession({ role: 'host', write: (b) => toAgent.write(b), onOpen: () => undefined, helloIntervalMs: 200 });
  cleanups.push(() => host.close());
  fromAgent.on('data', (c: Buffer) => host.receive(c));
  host.connect();
  await until(() => host.ready && agent.session.ready, 'the handshake');
  expect(host.peer?.agent?.pid).toBe(process.pid);
  expect((await run(host, { op: 'exec', argv: ['echo', 'one'] })).stdout.toString()).toBe('one\n');

  // The host closes its end: the agent's streams fail and it waits for the host to come back.
  toAgent.destroy();
  host.disconnect('test: host closed');
  await until(() => !agent.session.ready, 'the agent to notice end-of-file');
  toAgent = await openWriter(`${dir}/in`);
  host.connect();
  await until(() => host.ready && agent.session.ready, 'the second handshake');
  expect((await run(host, { op: 'exec', argv: ['echo', 'two'] })).stdout.toString()).toBe('two\n');
  const big = await run(host, { op: 'exec', argv: ['head', '-c', '5000000', '/dev/zero'] });
  expect(big.stdout.length).toBe(5_000_000);
});
