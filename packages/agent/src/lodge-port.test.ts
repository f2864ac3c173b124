import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, open, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { FrameKind, FrameParser, encodeFrame, encodeJsonFrame, type Frame } from '@lodge/api/guest';
import { encodeCommand } from './file-plane.js';
import { RelayRecords } from './relay-records.js';
import { compileRelay, until } from './test-harness.js';

// The real lodge-port between FIFOs standing in for the port (4 KiB reads like virtio_console) and this process as
// the agent: sinks and sources byte-exact among other frames, hunting, end-of-file, credit, errors.
let dir: string;
let binary: string;
beforeAll(() => {
  dir = mkdtempSync(`${tmpdir()}/lodge-port-test-`);
  binary = compileRelay(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

const HELLO = encodeJsonFrame(FrameKind.Hello, 0, { protocol: 1, role: 'host', session: '0123456789abcdef' });
/** The agent's Hello: the host's parser (relay.out) hunts for it first. */
const GUEST_HELLO = encodeJsonFrame(FrameKind.Hello, 0, { protocol: 1, role: 'guest', session: '0123456789abcdef' });
const data = (stream: number, channel: number, bytes: Buffer): Buffer => encodeFrame({ kind: FrameKind.Data, flags: channel, stream, payload: bytes });
const control = (stream: number, value: object): Buffer => encodeJsonFrame(FrameKind.Control, stream, value);

interface Relay {
  child: ChildProcess;
  /** What the relay passed on to the agent (frames, parsed like the agent does), events and end-of-file marks. */
  frames: Frame[];
  events: string[];
  /** In arrival order: 'frame <kind> <stream>', events, 'EOF'. */
  log: string[];
  /** Bytes the relay wrote to the port (host side), parsed as frames. */
  out: Frame[];
  outBytes: () => number;
  /** Bytes the host's parser dropped while hunting. */
  garbage: number;
  host: Socket;
  agent(bytes: Buffer): void;
  reopenHost(): Promise<void>;
}

async function startRelay(name: string, env: Record<string, string> = {}): Promise<Relay> {
  const base = `${dir}/${name}`;
  execFileSync('mkfifo', [`${base}-in`, `${base}-out`]);
  const child = spawn(binary, [`${base}-in`, `${base}-out`], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, LODGE_PORT_READ_MAX: '4096', ...env } });
  cleanups.push(() => void child.kill('SIGKILL'));
  const relay: Relay = { child, frames: [], events: [], log: [], out: [], garbage: 0, outBytes: () => outBytes, host: undefined as unknown as Socket, agent: (b) => void child.stdin?.write(b), reopenHost: async () => undefined };
  let outBytes = 0;
  const parser = new FrameParser({ frame: (f) => (relay.frames.push({ ...f, payload: Buffer.from(f.payload) }), relay.log.push(`frame ${f.kind} ${f.stream}`)) });
  const records = new RelayRecords({
    onData: (b) => parser.push(b),
    onEof: () => (relay.log.push('EOF'), parser.resync()),
    onEvent: (t) => (relay.events.push(t), relay.log.push(t)),
  });
  child.stdout?.on('data', (c: Buffer) => records.push(c));
  const fromRelay = new Socket({ fd: openSync(`${base}-out`, 'r+'), readable: true, writable: false });
  cleanups.push(() => void fromRelay.destroy());
  const outParser = new FrameParser({ frame: (f) => void relay.out.push({ ...f, payload: Buffer.from(f.payload) }), garbage: (n) => (relay.garbage += n) });
  fromRelay.on('data', (c: Buffer) => ((outBytes += c.length), outParser.push(c)));
  const openHost = (): Promise<Socket> =>
    new Promise((resolve, reject) => open(`${base}-in`, 'w', (e, fd) => (e ? reject(e) : resolve(new Socket({ fd, readable: false, writable: true })))));
  relay.host = await openHost();
  cleanups.push(() => void relay.host.destroy());
  relay.reopenHost = async () => {
    relay.host = await openHost();
  };
  return relay;
}

const sunkTotal = (events: string[], stream: number): number =>
  events.filter((e) => e.startsWith(`SUNK ${stream} `)).reduce((n, e) => n + Number(e.split(' ')[2]), 0);

function tempFile(name: string, content?: Buffer): { path: string; fd: number } {
  const path = `${dir}/${name}`;
  if (content) writeFileSync(path, content);
  const fd = openSync(path, content ? 'r' : 'w');
  cleanups.push(() => closeSync(fd));
  return { path, fd };
}

it('sinks a stream\'s Data into the file byte for byte, passing every other frame on unchanged and in order', async () => {
  const relay = await startRelay('sink');
  const payload = Buffer.from(Array.from({ length: 3_000_000 }, (_, i) => (i * 7 + (i >> 11)) & 0xff));
  const file = tempFile('sunk.bin');
  relay.host.write(HELLO);
  await until(() => relay.frames.length === 1, 'the Hello');
  relay.agent(encodeCommand(`SINK 3 0 ${file.fd} ${payload.length}`));
  await until(() => relay.events.includes('ARMED 3'), 'ARMED');
  // Frames of the file (odd sizes, up to 256 KiB) with other streams' frames between them.
  let at = 0;
  let i = 0;
  while (at < payload.length) {
    const n = Math.min(payload.length - at, [1, 4095, 70_000, 262_144, 12_345][i % 5] as number);
    relay.host.write(data(3, 0, payload.subarray(at, at + n)));
    at += n;
    if (i % 3 === 0) relay.host.write(data(5, 0, Buffer.from(`other ${i}`)));
    if (i % 4 === 1) relay.host.write(control(3, { type: 'note', i }));
    i++;
  }
  relay.host.write(control(3, { type: 'after' }));
  await until(() => relay.events.includes('SINK-DONE 3 0') && relay.frames.some((f) => f.payload.includes('after')), 'the sink to end');
  expect(readFileSync(file.path).equals(payload)).toBe(true);
  expect(sunkTotal(relay.events, 3)).toBe(payload.length);
  // Nothing of stream 3's Data reached the agent; everything else did, unchanged.
  expect(relay.frames.filter((f) => f.kind === FrameKind.Data && f.stream === 3)).toHaveLength(0);
  expect(relay.frames.filter((f) => f.stream === 5).map((f) => f.payload.toString())).toEqual(Array.from({ length: Math.ceil(i / 3) }, (_, k) => `other ${k * 3}`));
  // Every SUNK comes before the frame that followed its bytes: all of it is accounted before `after`.
  const afterAt = relay.log.findIndex((l, k) => l === `frame ${FrameKind.Control} 3` && relay.log.slice(k + 1).every((m) => !m.startsWith('frame')));
  expect(sunkTotal(relay.log.slice(0, afterAt), 3)).toBe(payload.length);
});

it('passes on what a sink\'s last frame holds beyond the sink as a Data frame of its own', async () => {
  const relay = await startRelay('straddle');
  const file = tempFile('straddle.bin');
  relay.host.write(HELLO);
  relay.agent(encodeCommand(`SINK 7 0 ${file.fd} 10`));
  await until(() => relay.events.includes('ARMED 7'), 'ARMED');
  relay.host.write(data(7, 0, Buffer.from('0123456789abcdef')));
  await until(() => relay.frames.some((f) => f.kind === FrameKind.Data), 'the rest');
  expect(readFileSync(file.path, 'utf8')).toBe('0123456789');
  expect(relay.frames.find((f) => f.kind === FrameKind.Data)).toMatchObject({ stream: 7, flags: 0, payload: Buffer.from('abcdef') });
  expect(relay.events).toEqual(['ARMED 7', 'SUNK 7 10 0', 'SINK-DONE 7 0']);
});

it('hunts through garbage like the agent, drops sinks on a bad header, and works again after the next Hello', async () => {
  const relay = await startRelay('hunt');
  const file = tempFile('hunt.bin');
  relay.host.write(Buffer.concat([Buffer.from('noise\x4c\x47\x05 more noise'), HELLO]));
  await until(() => relay.frames.length === 1, 'the Hello through garbage');
  relay.agent(encodeCommand(`SINK 1 0 ${file.fd} 100`));
  await until(() => relay.events.includes('ARMED 1'), 'ARMED');
  relay.host.write(data(1, 0, Buffer.alloc(40, 1)));
  relay.host.write(Buffer.from('\x4c\x47\x63garbage-header-bytes')); // kind 0x63: a framing error in sync
  relay.host.write(data(1, 0, Buffer.alloc(30, 2))); // while hunting: passed on, not sunk
  await until(() => relay.events.some((e) => e.startsWith('SINK-DONE 1')), 'the sink dropped');
  expect(relay.events).toEqual(['ARMED 1', 'SUNK 1 40 0', 'SINK-DONE 1 104']);
  relay.host.write(HELLO);
  await until(() => relay.frames.length === 2, 'the second Hello');
  relay.agent(encodeCommand(`SINK 1 0 ${file.fd} 20`));
  await until(() => relay.events.filter((e) => e === 'ARMED 1').length === 2, 'ARMED again');
  relay.host.write(data(1, 0, Buffer.alloc(20, 3)));
  await until(() => relay.events.at(-1) === 'SINK-DONE 1 0', 'the second sink');
  expect(relay.frames.map((f) => f.kind)).toEqual([FrameKind.Hello, FrameKind.Hello]);
});

it('drops sinks and ends sources at the port\'s end-of-file, then carries the next host', async () => {
  const relay = await startRelay('eof');
  const sinkFile = tempFile('eof-sink.bin');
  const sourceFile = tempFile('eof-source.bin', Buffer.alloc(100_000, 9));
  relay.host.write(HELLO);
  relay.agent(encodeCommand(`SINK 2 0 ${sinkFile.fd} 1000`));
  relay.agent(encodeCommand(`SOURCE 4 1 ${sourceFile.fd} 0 100000 65536`));
  await until(() => relay.events.includes('ARMED 2'), 'ARMED');
  relay.host.write(data(2, 0, Buffer.alloc(10, 1)));
  await until(() => relay.frames.length === 1, 'the Hello');
  relay.host.end();
  await until(() => relay.log.includes('EOF'), 'end-of-file');
  expect(relay.log.filter((l) => !l.startsWith('frame'))).toEqual(['ARMED 2', 'SUNK 2 10 0', 'SINK-DONE 2 104', 'DONE 4 0 104 0', 'EOF']);
  await relay.reopenHost();
  relay.host.write(HELLO);
  await until(() => relay.frames.length === 2, 'the next host\'s Hello');
});

it('sends a source\'s bytes as Data frames within the credit GO grants, between the agent\'s own frames', async () => {
  const relay = await startRelay('source');
  const content = Buffer.from(Array.from({ length: 1_000_000 }, (_, i) => (i * 13) & 0xff));
  const file = tempFile('source.bin', content);
  relay.host.write(HELLO);
  await until(() => relay.frames.length === 1, 'the Hello');
  relay.agent(encodeJsonFrame(FrameKind.Hello, 0, { protocol: 1, role: 'guest', session: '0123456789abcdef' }));
  relay.agent(control(9, { type: 'entry' }));
  relay.agent(encodeCommand(`SOURCE 9 1 ${file.fd} 0 ${content.length} 65536`));
  let granted = 0;
  for (const grant of [100_000, 1, 250_000, 400_000]) {
    relay.agent(encodeCommand(`GO 9 ${grant}`));
    granted += grant;
    await until(() => relay.out.filter((f) => f.kind === FrameKind.Data).reduce((n, f) => n + f.payload.length, 0) === granted, `${granted} bytes`);
    await new Promise((r) => setTimeout(r, 30)); // nothing beyond the credit comes later either
    expect(relay.out.filter((f) => f.kind === FrameKind.Data).reduce((n, f) => n + f.payload.length, 0)).toBe(granted);
    relay.agent(control(9, { type: 'between', granted })); // the agent's frames go between whole frames
  }
  relay.agent(encodeCommand(`GO 9 ${content.length}`));
  await until(() => relay.events.includes(`DONE 9 ${content.length} 0 0`), 'DONE');
  // DONE comes on the relay's stdout, the frames through the port's FIFO: the test may hear DONE first.
  await until(() => relay.out.filter((f) => f.kind === FrameKind.Data).reduce((n, f) => n + f.payload.length, 0) === content.length, 'every byte');
  const sent = relay.out.filter((f) => f.kind === FrameKind.Data);
  expect(sent.every((f) => f.stream === 9 && f.flags === 1 && f.payload.length <= 65536)).toBe(true);
  expect(Buffer.concat(sent.map((f) => f.payload)).equals(content)).toBe(true);
  expect(relay.out.filter((f) => f.kind === FrameKind.Control).map((f) => JSON.parse(f.payload.toString()).type)).toEqual(['entry', 'between', 'between', 'between', 'between']);
});

const window = (stream: number, channel: number, credit: number): Buffer => {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(credit);
  return encodeFrame({ kind: FrameKind.Window, flags: channel, stream, payload });
};
const windowsOut = (relay: Relay, stream: number): number[] =>
  relay.out.filter((f) => f.kind === FrameKind.Window && f.stream === stream).map((f) => (expect(f.flags).toBe(0), f.payload.readUInt32BE()));

it('returns the host\'s credit for a sink itself, a Window per MiB written, and tells the agent how much in SUNK', async () => {
  const relay = await startRelay('sink-credit');
  relay.agent(GUEST_HELLO);
  const payload = Buffer.alloc(3.5 * 2 ** 20 + 1000, 5);
  const file = tempFile('sink-credit.bin');
  relay.host.write(HELLO);
  relay.agent(encodeCommand(`SINK 6 0 ${file.fd} ${payload.length + 10}`));
  await until(() => relay.events.includes('ARMED 6'), 'ARMED');
  for (let at = 0; at < payload.length; at += 256 * 1024) relay.host.write(data(6, 0, payload.subarray(at, at + 256 * 1024)));
  await until(() => windowsOut(relay, 6).reduce((a, b) => a + b, 0) >= 3 * 2 ** 20, 'three MiB returned');
  relay.host.write(control(6, { type: 'after' }));
  await until(() => relay.frames.some((f) => f.kind === FrameKind.Control), 'the frame after');
  // The agent hears nothing during the copy; before the frame after it, one SUNK with all the bytes and the credit
  // the relay returned for them (the agent returns the rest).
  const returned = windowsOut(relay, 6);
  expect(returned.every((n) => n >= 2 ** 20)).toBe(true);
  expect(relay.events).toEqual(['ARMED 6', `SUNK 6 ${payload.length} ${returned.reduce((a, b) => a + b, 0)}`]);
  expect(payload.length - returned.reduce((a, b) => a + b, 0)).toBeLessThan(2 ** 20);
  expect(readFileSync(file.path).equals(payload)).toBe(true);
});

it('takes the host\'s Windows for a source\'s stream and channel itself, passes on the others, and reports them in DONE', async () => {
  const relay = await startRelay('source-credit');
  relay.agent(GUEST_HELLO);
  const content = Buffer.alloc(600_000, 3);
  const file = tempFile('source-credit.bin', content);
  relay.host.write(HELLO);
  await until(() => relay.frames.length === 1, 'the Hello');
  relay.agent(encodeCommand(`SOURCE 8 1 ${file.fd} 0 ${content.length} 65536`));
  relay.agent(encodeCommand('GO 8 1000'));
  const sent = (): number => relay.out.filter((f) => f.kind === FrameKind.Data).reduce((n, f) => n + f.payload.length, 0);
  await until(() => sent() === 1000, 'the lent credit used');
  // Split across writes, like the port's 4 KiB reads may cut it.
  const w = window(8, 1, 300_000);
  relay.host.write(w.subarray(0, 14));
  await new Promise((r) => setTimeout(r, 20));
  relay.host.write(Buffer.concat([w.subarray(14), window(8, 0, 77), window(2, 1, 88)]));
  await until(() => sent() === 301_000, 'the Window used');
  await until(() => relay.frames.length === 3, 'the other Windows passed on');
  expect(relay.frames.slice(1).map((f) => [f.kind, f.stream, f.flags, f.payload.readUInt32BE()])).toEqual([
    [FrameKind.Window, 8, 0, 77],
    [FrameKind.Window, 2, 1, 88],
  ]);
  relay.host.write(window(8, 1, 400_000));
  await until(() => relay.events.length === 1, 'DONE');
  expect(relay.events).toEqual([`DONE 8 ${content.length} 0 700000`]);
  // After the source, its Windows reach the agent again.
  relay.host.write(window(8, 1, 5));
  await until(() => relay.frames.length === 4, 'a Window after DONE');
  expect(relay.frames[3]?.payload.readUInt32BE()).toBe(5);
});

it('reports errors: a bad fd for a sink or source, a file shorter than announced, STOP and UNSINK', async () => {
  const relay = await startRelay('errors');
  relay.host.write(HELLO);
  relay.agent(encodeCommand('SINK 1 0 999 10'));
  relay.agent(encodeCommand('SOURCE 2 1 999 0 10 65536'));
  const short = tempFile('short.bin', Buffer.alloc(5000, 1));
  relay.agent(encodeCommand(`SOURCE 3 1 ${short.fd} 0 8000 65536`));
  relay.agent(encodeCommand('GO 3 100000'));
  const long = tempFile('long.bin', Buffer.alloc(5000, 1));
  relay.agent(encodeCommand(`SOURCE 4 1 ${long.fd} 0 5000 65536`));
  relay.agent(encodeCommand('STOP 4'));
  const sink = tempFile('unsink.bin');
  relay.agent(encodeCommand(`SINK 5 0 ${sink.fd} 1000`));
  relay.agent(encodeCommand('UNSINK 5'));
  await until(() => relay.events.length === 6, 'six events');
  // ENOENT (no such fd), ENODATA (short), ECANCELED (STOP, UNSINK); the pump may answer DONE 3 after later commands.
  expect([...relay.events].sort()).toEqual(['ARMED 5', 'DONE 2 0 2 0', 'DONE 3 5000 61 0', 'DONE 4 0 125 0', 'SINK-DONE 1 2', 'SINK-DONE 5 125']);
  expect(relay.events.indexOf('ARMED 5')).toBeLessThan(relay.events.indexOf('SINK-DONE 5 125'));
});

it('pads out a frame a dead relay cut short when started with LODGE_PORT_PAD: the host hunts to the next Hello', async () => {
  const relay = await startRelay('pad', { LODGE_PORT_PAD: String(12 + 256 * 1024) });
  const hello = encodeJsonFrame(FrameKind.Hello, 0, { protocol: 1, role: 'guest', session: '0123456789abcdef' });
  relay.agent(hello);
  await until(() => relay.out.length === 1, 'the Hello after the zeros');
  expect(relay.outBytes()).toBe(12 + 256 * 1024 + hello.length);
  expect(relay.garbage).toBe(12 + 256 * 1024);
});
