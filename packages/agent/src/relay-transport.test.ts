import { execFileSync } from 'node:child_process';
import { mkdtempSync, open, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createSession, type Session } from '@lodge/api/guest';
import { startAgent, type Agent } from './agent-main.js';
import { compileRelay, run } from './test-harness.js';

// The real lodge-port on a FIFO pair standing in for the virtio port: closing the writer of `in` is end-of-file.
let dir: string;
let relay: string;
const readMax = process.env.LODGE_PORT_READ_MAX;
beforeAll(() => {
  dir = mkdtempSync(`${tmpdir()}/lodge-relay-test-`);
  relay = compileRelay(dir);
  process.env.LODGE_PORT_READ_MAX = '4096'; // virtio_console's read() size
});
afterAll(() => {
  if (readMax === undefined) delete process.env.LODGE_PORT_READ_MAX;
  else process.env.LODGE_PORT_READ_MAX = readMax;
  rmSync(dir, { recursive: true, force: true });
});
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function openWriter(path: string): Promise<Socket> {
  return new Promise((resolve, reject) =>
    open(path, 'w', (error, fd) => (error ? reject(error) : resolve(new Socket({ fd, readable: false, writable: true })))),
  );
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

/** Pids of this process's children running `binary` (the relay the agent started). */
function relayPids(binary: string): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      return ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] === binary;
    } catch {
      return false;
    }
  });
}

interface Line {
  agent: Agent;
  host: Session;
  /** The host closes its end of the port (end-of-file for the agent) and opens it again. */
  reopen(): Promise<void>;
}

async function startLine(binary: string, name: string): Promise<Line> {
  const base = `${dir}/${name}`;
  execFileSync('mkfifo', [`${base}-in`, `${base}-out`]);
  const fromAgent = new Socket({ fd: openSync(`${base}-out`, 'r+'), readable: true, writable: false });
  cleanups.push(() => void fromAgent.destroy());
  const agent = await startAgent({ port: { kind: 'fifo', input: `${base}-in`, output: `${base}-out` }, relay: { binary }, ptyDir: `${base}-pty`, helloIntervalMs: 200 });
  cleanups.push(() => agent.close());
  let toAgent = await openWriter(`${base}-in`);
  cleanups.push(() => void toAgent.destroy());
  let host: Session | undefined;
  toAgent.on('drain', () => host?.drain());
  host = createSession({ role: 'host', write: (b) => toAgent.write(b), onOpen: () => undefined, helloIntervalMs: 200 });
  cleanups.push(() => host.close());
  fromAgent.on('data', (c: Buffer) => host.receive(c));
  host.connect();
  await until(() => host.ready && agent.session.ready, 'the handshake');
  return {
    agent,
    host,
    async reopen() {
      toAgent.destroy();
      host.disconnect('test: host closed');
      await until(() => !agent.session.ready, 'the agent to notice end-of-file');
      toAgent = await openWriter(`${base}-in`);
      toAgent.on('drain', () => host?.drain());
      host.connect();
      await until(() => host.ready && agent.session.ready, 'the second handshake');
    },
  };
}

it('carries the port through lodge-port both ways, with end-of-file and reconnect in order', async () => {
  const { agent, host, reopen } = await startLine(relay, 'eof');
  expect(relayPids(relay)).toHaveLength(1);
  expect((await run(host, { op: 'exec', argv: ['echo', 'one'] })).stdout.toString()).toBe('one\n');
  await reopen();
  expect((await run(host, { op: 'exec', argv: ['echo', 'two'] })).stdout.toString()).toBe('two\n');
  // Bulk both ways: 5 MB out of the guest, 3 MB into it through stdin (read back as its length).
  const big = await run(host, { op: 'exec', argv: ['head', '-c', '5000000', '/dev/zero'] });
  expect(big.stdout.length).toBe(5_000_000);
  const counted = await run(host, { op: 'exec', argv: ['wc', '-c'], stdin: true }, Buffer.alloc(3_000_000, 7));
  expect(counted.stdout.toString().trim()).toBe('3000000');
  expect(agent.transport.stats.bytesIn).toBeGreaterThan(3_000_000);
});

it('restarts a relay that died, and the host gets a fresh Hello', async () => {
  const { host } = await startLine(relay, 'kill');
  const [first] = relayPids(relay);
  process.kill(first as number, 'SIGKILL');
  await until(() => relayPids(relay).some((p) => p !== first), 'a new relay');
  await until(() => host.ready, 'the host to take the new Hello');
  expect((await run(host, { op: 'exec', argv: ['echo', 'after'] })).stdout.toString()).toBe('after\n');
});

it('reads the port itself when the relay cannot run, and still reconnects', async () => {
  const { host, reopen } = await startLine(`${dir}/no-such-lodge-port`, 'fallback');
  expect((await run(host, { op: 'exec', argv: ['echo', 'fallback'] })).stdout.toString()).toBe('fallback\n');
  await reopen();
  expect((await run(host, { op: 'exec', argv: ['echo', 'again'] })).stdout.toString()).toBe('again\n');
});
