import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, open, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Channel, FEATURE_PUT_READY, createSession, type FilesResult, type Session } from '@lodge/api/guest';
import { startAgent, type Agent } from './agent-main.js';
import { compileRelay, run, until, openWriter } from './test-harness.js';

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

async function startLine(binary: string, name: string, features?: string[]): Promise<Line> {
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
  host = createSession({ role: 'host', write: (b) => toAgent.write(b), onOpen: () => undefined, helloIntervalMs: 200, ...(features ? { features } : {}) });
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
  // Bulk both ways through the agent: 5 MB out of the guest, 3 MB into it through stdin (read back as its length).
  // More variables than lodge-port takes (256) keep these execs the agent's: it runs the others itself once the
  // agent's FASTEXEC reached it, which races the Open here.
  const env = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`V${i}`, '']));
  const big = await run(host, { op: 'exec', argv: ['head', '-c', '5000000', '/dev/zero'], env });
  expect(big.stdout.length).toBe(5_000_000);
  const counted = await run(host, { op: 'exec', argv: ['wc', '-c'], stdin: true, env }, Buffer.alloc(3_000_000, 7));
  expect(counted.stdout.toString().trim()).toBe('3000000');
  expect(agent.transport.stats.bytesIn).toBeGreaterThan(3_000_000);
});

it('restarts a relay that died, and the host gets a fresh Hello', async () => {
  const { host } = await startLine(relay, 'kill');
  const [first] = relayPids(relay);
  const session = host.peer?.session;
  process.kill(first as number, 'SIGKILL');
  await until(() => relayPids(relay).some((p) => p !== first), 'a new relay');
  // The new relay pads out a frame the dead one may have cut, then the agent's new Hello (a new session) follows.
  await until(() => host.ready && host.peer?.session !== session, 'the host to take the new Hello');
  expect((await run(host, { op: 'exec', argv: ['echo', 'after'] })).stdout.toString()).toBe('after\n');
});

it('keeps restarting a relay killed from outside, however quickly: only its own failures make it fall back', async () => {
  const { agent, host } = await startLine(relay, 'kills');
  // Held open as the virtio port is by QEMU: the host's writes wait in the FIFO between two relays, no EPIPE.
  const hold = openSync(`${dir}/kills-in`, 'r+');
  cleanups.push(() => closeSync(hold));
  for (let i = 0; i < 4; i++) {
    const [pid] = relayPids(relay);
    process.kill(pid as number, i % 2 ? 'SIGTERM' : 'SIGKILL');
    await until(() => relayPids(relay).some((p) => p !== pid), `relay ${i + 2}`);
  }
  await until(() => host.ready && agent.session.ready, 'the handshake after the last restart');
  expect(agent.transport.plane).toBeDefined(); // the relay's, not the Node reader's (which has none)
  expect((await run(host, { op: 'exec', argv: ['echo', 'relayed'] })).stdout.toString()).toBe('relayed\n');
});

it('reads the port itself when the relay cannot run, and still reconnects', async () => {
  const { host, reopen } = await startLine(`${dir}/no-such-lodge-port`, 'fallback');
  expect((await run(host, { op: 'exec', argv: ['echo', 'fallback'] })).stdout.toString()).toBe('fallback\n');
  await reopen();
  expect((await run(host, { op: 'exec', argv: ['echo', 'again'] })).stdout.toString()).toBe('again\n');
});

/** files.put as the daemon sends it (agent-files.ts): entry, `ready` for a big file when both announced it, bytes. */
async function put(host: Session, path: string, files: { name: string; data: Buffer }[], waitReady: boolean): Promise<FilesResult> {
  const stream = host.open({ op: 'files.put', path });
  let readies = 0;
  stream.on('control', (m) => void ((m as { type: string }).type === 'ready' && readies++));
  stream.control({ type: 'entry', path: 'd', kind: 'dir', mode: 0o755, size: 0, mtimeMs: 0 });
  for (const [i, f] of files.entries()) {
    stream.control({ type: 'entry', path: `d/${f.name}`, kind: 'file', mode: 0o640, size: f.data.length, mtimeMs: 0 });
    if (waitReady && f.data.length >= 1024 * 1024) await until(() => readies > files.slice(0, i).filter((g) => g.data.length >= 1024 * 1024).length, 'ready');
    for (let at = 0; at < f.data.length; at += 200_000) await stream.write(Channel.Input, f.data.subarray(at, at + 200_000));
  }
  stream.end(Channel.Input);
  return (await stream.result()) as FilesResult;
}

/** files.get as the daemon takes it: entries and each file's bytes, in order. */
async function get(host: Session, path: string): Promise<{ entries: { path: string; size: number }[]; data: Buffer; result: FilesResult }> {
  const stream = host.open({ op: 'files.get', path });
  stream.grant(Channel.Output, 7 * 1024 * 1024);
  const entries: { path: string; size: number }[] = [];
  const chunks: Buffer[] = [];
  stream.on('control', (m) => entries.push(m as { path: string; size: number }));
  stream.on('data', (ch, c) => (chunks.push(Buffer.from(c)), stream.consumed(ch, c.length)));
  const result = (await stream.result()) as FilesResult;
  return { entries, data: Buffer.concat(chunks), result };
}

it('copies big files both ways through lodge-port\'s sinks and sources, their bytes never through the agent\'s JS', async () => {
  const { agent, host } = await startLine(relay, 'files', [FEATURE_PUT_READY]);
  const files = [{ name: 'big', data: randomBytes(3_000_000) }, { name: 'also-big', data: randomBytes(1_048_576) }, { name: 'small', data: randomBytes(5000) }];
  const target = `${dir}/files-put`;
  execFileSync('mkdir', ['-p', target]);
  const inBefore = agent.transport.stats.bytesIn;
  expect(await put(host, target, files, true)).toEqual({ entries: 4, bytes: 3_000_000 + 1_048_576 + 5000 });
  for (const f of files) expect(readFileSync(`${target}/d/${f.name}`).equals(f.data), f.name).toBe(true);
  // Only the small file, entries and frames' overhead reached the agent.
  expect(agent.transport.stats.bytesIn - inBefore).toBeLessThan(100_000);
  const outBefore = agent.transport.stats.bytesOut;
  const back = await get(host, `${target}/d`);
  expect(back.entries.map((e) => `${e.path} ${e.size}`)).toEqual(['d 0', 'd/also-big 1048576', 'd/big 3000000', 'd/small 5000']);
  expect(back.data.equals(Buffer.concat([files[1]!.data, files[0]!.data, files[2]!.data]))).toBe(true);
  expect(back.result).toEqual({ entries: 4, bytes: 3_000_000 + 1_048_576 + 5000 });
  expect(agent.transport.stats.bytesOut - outBefore).toBeLessThan(100_000);
  // A host without the feature: the agent sends no ready and takes the bytes itself, as before.
  const plainHost = await startLine(relay, 'files-plain');
  const plainTarget = `${dir}/files-plain-put`;
  execFileSync('mkdir', ['-p', plainTarget]);
  expect(await put(plainHost.host, plainTarget, files, false)).toEqual({ entries: 4, bytes: 3_000_000 + 1_048_576 + 5000 });
  for (const f of files) expect(readFileSync(`${plainTarget}/d/${f.name}`).equals(f.data), f.name).toBe(true);
});
