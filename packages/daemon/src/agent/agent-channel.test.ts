import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FEATURE_PUT_READY, INITIAL_WINDOW, PUT_READY_BYTES } from '@lodge/api/guest';
import type { GuestChannel } from '../ports/guest-channel.js';
import { createAgentChannel } from './agent-channel.js';
import { FakeAgent } from './fake-agent.js';

const timing = { minBackoffMs: 20, maxBackoffMs: 100, pingIntervalMs: 100, maxMissedPings: 3, helloIntervalMs: 100 };
const logger = pino({ level: 'silent' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;
const memory = (): number => (gc(), process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers);

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await sleep(10)) if (Date.now() > end) throw new Error('condition not met in time');
}

describe('agent channel over a unix socket', () => {
  let dir: string;
  let agent: FakeAgent;
  let channel: GuestChannel;
  const open = (more: { goneResetMs?: number } = {}): GuestChannel => (channel = createAgentChannel({ socketPath: join(dir, 'agent.sock'), logger, timing: { ...timing, ...more } }));
  /** Both ends in sync: the host is ready and the fake agent got its HelloAck. */
  const synced = async (): Promise<void> => {
    await channel.whenReady(3000);
    await until(() => agent.session.ready && channel.state === 'ready');
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lodge-agent-'));
    agent = await FakeAgent.start(join(dir, 'agent.sock'));
  });
  afterEach(async () => {
    channel?.close();
    await agent.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('handshakes, reports ready with the agent version, answers info and time', async () => {
    const states: string[] = [];
    open().onState((s) => states.push(s));
    await channel.whenReady(3000);
    expect(channel.state).toBe('ready');
    expect(channel.via).toBe('lodge-agent');
    expect(channel.version).toBe('0.1.0');
    expect((await channel.info()).kernel.release).toMatch(/cloud-amd64/);
    expect(await channel.setTime(Date.now())).toEqual({ offsetMs: 5 });
    await channel.shutdown('poweroff');
    expect(agent.requests.map((r) => r.op)).toEqual(['info', 'time.set', 'shutdown']);
    expect(states).toContain('ready');
  });

  it('runs a process: started, output, exit; a missing program is not_found with the guest message', async () => {
    open();
    await synced();
    let out = '';
    let pid = 0;
    const run = channel.exec({ argv: ['echo', 'hi', 'there'] }, { started: (p) => (pid = p), output: (_ch, chunk, done) => ((out += chunk.toString()), done()) });
    expect(await run.result).toEqual({ exitCode: 0, signal: null, timedOut: false });
    expect(await run.pid).toBe(4242);
    expect(pid).toBe(4242);
    expect(out).toBe('hi there\n');
    const missing = channel.exec({ argv: ['missing'] }, { output: (_c, _b, done) => done() });
    await expect(missing.result).rejects.toMatchObject({ code: 'not_found', message: 'missing: command not found' });
  });

  it('streams stdin with back-pressure and gets it back', async () => {
    open();
    await synced();
    let got = 0;
    const run = channel.exec({ argv: ['cat'], stdin: true }, { output: (_c, chunk, done) => ((got += chunk.length), done()) });
    for (let i = 0; i < 16; i++) await run.writeStdin(Buffer.alloc(64 * 1024, i));
    run.endStdin();
    await run.result;
    expect(got).toBe(16 * 64 * 1024);
  });

  it('returns output credit only when the sink calls done', async () => {
    open();
    await synced();
    const held: (() => void)[] = [];
    let got = 0;
    const total = 1024 * 1024;
    const run = channel.exec({ argv: ['flood', String(total)] }, { output: (_c, chunk, done) => ((got += chunk.length), held.push(done)) });
    await until(() => got >= INITIAL_WINDOW);
    await sleep(300);
    expect(got).toBe(INITIAL_WINDOW);
    while (got < total || held.length > 0) {
      held.splice(0).forEach((done) => done());
      await sleep(5);
    }
    await run.result;
    expect(got).toBe(total);
  });

  it('downloads entries with exact sizes and refuses a file longer than its entry', async () => {
    open();
    await synced();
    const seen: string[] = [];
    const sink = { entry: async (e: { path: string }) => void seen.push(e.path), data: async (b: Buffer) => void seen.push(b.toString()) };
    expect(await channel.getFiles('dir', sink)).toEqual({ entries: 2, bytes: 5 });
    expect(seen).toEqual(['dir', 'dir/a', 'hello']);
    await expect(channel.getFiles('long', sink)).rejects.toThrow(/past the 5 bytes left of dir\/a/);
  });

  it('reads a window of a file, keeping only the asked bytes, and cancels the rest of the stream', async () => {
    open();
    await synced();
    const content = Buffer.from(Array.from({ length: 3 * 65536 }, (_, i) => i % 251));
    agent.files.set('/run/lodge/provision.jsonl', content);
    const win = await channel.readFile('/run/lodge/provision.jsonl', { offset: 1000, maxBytes: 70_000 });
    expect(win.size).toBe(content.length);
    expect(win.data.equals(content.subarray(1000, 71_000))).toBe(true);
    const tail = await channel.readFile('/run/lodge/provision.jsonl', { offset: content.length - 10, maxBytes: 70_000 });
    expect(tail.data.equals(content.subarray(-10))).toBe(true);
    expect(await channel.readFile('/run/lodge/provision.jsonl', { offset: content.length, maxBytes: 100 })).toEqual({ data: Buffer.alloc(0), size: content.length });
    await expect(channel.readFile('/run/lodge/none', { offset: 0, maxBytes: 10 })).rejects.toMatchObject({ code: 'not_found' });
    expect((await channel.info()).hostname).toBe('fake'); // the session is fine after the cancels
  });

  it('uploads entries and bytes', async () => {
    open();
    await synced();
    async function* source(): AsyncGenerator<{ entry: { path: string; kind: 'file'; mode: number; size: number; mtimeMs: number } } | { data: Buffer }> {
      yield { entry: { path: 'f', kind: 'file', mode: 0o600, size: 3, mtimeMs: 0 } };
      yield { data: Buffer.from('abc') };
    }
    expect(await channel.putFiles('/tmp/f', source())).toEqual({ entries: 1, bytes: 3 });
    expect(agent.uploads[0]?.bytes).toBe(3);
  });

  it('waits for the guest\'s ready before a big file\'s bytes when the agent announced it, and only then', async () => {
    type Item = { entry: { path: string; kind: 'file' | 'dir'; mode: number; size: number; mtimeMs: number } } | { data: Buffer };
    const big = randomBytes(PUT_READY_BYTES + 5);
    async function* tree(): AsyncGenerator<Item> {
      yield { entry: { path: 't', kind: 'dir', mode: 0o755, size: 0, mtimeMs: 0 } };
      yield { entry: { path: 't/small', kind: 'file', mode: 0o600, size: 3, mtimeMs: 0 } };
      yield { data: Buffer.from('abc') };
      for (const name of ['t/big1', 't/big2']) {
        yield { entry: { path: name, kind: 'file', mode: 0o600, size: big.length, mtimeMs: 0 } };
        for (let at = 0; at < big.length; at += 65536) yield { data: big.subarray(at, at + 65536) };
      }
    }
    const expected = { entries: 4, bytes: 3 + 2 * big.length };
    // An agent that announces the feature: no byte of a big file before its ready (the fake answers after 100 ms).
    await agent.stop();
    agent = await FakeAgent.start(join(dir, 'agent.sock'), { features: [FEATURE_PUT_READY], readyDelayMs: 100 });
    open();
    await synced();
    const started = Date.now();
    const r = await channel.putFiles('/tmp/t', tree()).catch((e: Error) => e.message);
    expect(r).toEqual(expected);
    expect(agent.uploads[0]).toMatchObject({ bytes: expected.bytes, early: 0 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(agent.uploads[0]?.entries.filter((e) => (e as { type: string }).type === 'entry')).toHaveLength(4);
    // One that does not (an older agent): the host sends at once and never waits for a ready that will not come.
    channel.close();
    await agent.stop();
    agent = await FakeAgent.start(join(dir, 'agent.sock'));
    open();
    await synced();
    expect(await channel.putFiles('/tmp/t', tree())).toEqual(expected);
    expect(agent.uploads[0]?.bytes).toBe(expected.bytes);
  });

  it('publishes both ways', async () => {
    open();
    await synced();
    const received: string[] = [];
    channel.onPublish(async (m) => (received.push(`${m.topic}:${m.body.toString()}`), 2));
    expect(await channel.publish({ topic: 'greet', body: Buffer.from('to-guest') })).toEqual({ delivered: 1 });
    expect(agent.published[0]?.body.toString()).toBe('to-guest');
    expect(await agent.publish('status', Buffer.from('from-guest'))).toEqual({ delivered: 2 });
    expect(received).toEqual(['status:from-guest']);
  });

  it('resets a guest-opened stream with an unexpected op', async () => {
    open();
    await synced();
    const stream = agent.session.open({ op: 'info' });
    await expect(stream.result()).rejects.toMatchObject({ code: 'protocol_error' });
  });

  it('reconnects after the socket server restarts, and resyncs after an agent restart or a daemon restart', async () => {
    open();
    await synced();
    await agent.stop();
    await until(() => channel.state !== 'ready');
    await agent.listen();
    await synced();
    expect((await channel.info()).hostname).toBe('fake');

    const before = agent.session.peer?.session;
    agent.restartAgent();
    await until(() => agent.session.ready && agent.session.peer?.session !== before);
    await synced();
    expect((await channel.info()).hostname).toBe('fake');

    channel.close();
    expect(channel.state).toBe('none');
    open();
    await synced();
    expect((await channel.info()).hostname).toBe('fake');
  });

  it('marks the agent gone when pings go unanswered, and ready again on a new Hello', async () => {
    open();
    await synced();
    agent.socket?.pause();
    await until(() => channel.state === 'gone', 3000);
    agent.socket?.resume();
    agent.restartAgent();
    await synced();
    expect((await channel.info()).hostname).toBe('fake');
  });

  it('gives up on an agent silent past goneResetMs: its streams fail, and Hellos find it again once it answers', async () => {
    open({ goneResetMs: 300 });
    await synced();
    const run = channel.exec({ argv: ['cat'], stdin: true }, { output: (_c, _b, done) => done() });
    await run.pid;
    agent.socket?.pause(); // the agent stops reading: no Pong
    await until(() => channel.state === 'gone', 3000);
    const failed = await run.result.then(() => 'finished', (e: unknown) => e);
    expect(failed).toMatchObject({ code: 'invalid_state', message: expect.stringMatching(/^the guest agent has not answered for \d+ s \(it stopped/) });
    expect(channel.state).toBe('gone');
    agent.socket?.resume(); // it reads the new session's Hello and answers it
    await synced();
    expect((await channel.info()).hostname).toBe('fake');
  });

  it("neither pings nor gives up on a paused VM's agent, and pings it again on resume", async () => {
    open({ goneResetMs: 300 });
    await synced();
    let out = '';
    const run = channel.exec({ argv: ['cat'], stdin: true }, { output: (_c, chunk, done) => ((out += chunk.toString()), done()) });
    await run.pid;
    channel.vcpusRunning?.(false);
    agent.socket?.pause();
    await new Promise((r) => setTimeout(r, 1000)); // 10 ping intervals, 3 misses and the 300 ms after them
    expect(channel.state).toBe('ready');
    agent.socket?.resume();
    channel.vcpusRunning?.(true);
    await run.writeStdin(Buffer.from('still here'));
    run.endStdin();
    expect(await run.result).toEqual({ exitCode: 0, signal: null, timedOut: false });
    expect(out).toBe('still here');
    agent.socket?.pause(); // running again, it is watched again
    await until(() => channel.state === 'gone', 3000);
    agent.socket?.resume();
  });

  it('survives a 50 MB garbage flood without holding it, and is ready again after a new Hello', async () => {
    open();
    await synced();
    const states: string[] = [];
    channel.onState((s) => states.push(s));
    const base = memory();
    let peak = 0;
    for (let sent = 0; sent < 50 * 2 ** 20; sent += 256 * 1024) {
      await agent.writeRaw(randomBytes(256 * 1024));
      if (sent % (2 * 2 ** 20) === 0) peak = Math.max(peak, memory() - base);
    }
    expect(peak).toBeLessThan(8 * 2 ** 20); // 50 MB went through; a few MB of sockets and in-flight chunks stay
    expect(states).toContain('connecting'); // the garbage broke the framing: the host resynced
    agent.restartAgent();
    await until(() => agent.session.ready);
    await synced();
    expect((await channel.info()).hostname).toBe('fake');
  }, 60_000);
});
