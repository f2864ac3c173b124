import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, open, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { FrameKind, FrameParser, encodeFrame, encodeJsonFrame, type Frame } from '@lodge/api/guest';
import { encodeCommand } from './file-plane.js';
import { RelayRecords } from './relay-records.js';
import { compileRelay, isRunning, processesRunning, until } from './test-harness.js';

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
  /** What the relay wrote on stderr (also passed on to ours). */
  stderr: string;
  agent(bytes: Buffer): void;
  reopenHost(): Promise<void>;
}

/** underShell: the relay's parent is a shell (child), as the agent is in the guest; killing it is the agent's death. */
async function startRelay(name: string, env: Record<string, string> = {}, underShell = false): Promise<Relay> {
  const base = `${dir}/${name}`;
  execFileSync('mkfifo', [`${base}-in`, `${base}-out`]);
  const [command, args] = underShell ? ['bash', ['-c', '"$0" "$@" <&0 & wait', binary]] : [binary, []]; // (dash gives it /dev/null)
  const child = spawn(command, [...args, `${base}-in`, `${base}-out`], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LODGE_PORT_READ_MAX: '4096', ...env } });
  cleanups.push(() => void child.kill('SIGKILL'));
  const relay: Relay = { child, frames: [], events: [], log: [], out: [], garbage: 0, outBytes: () => outBytes, host: undefined as unknown as Socket, stderr: '', agent: (b) => void child.stdin?.write(b), reopenHost: async () => undefined };
  let outBytes = 0;
  const parser = new FrameParser({ frame: (f) => (relay.frames.push({ ...f, payload: Buffer.from(f.payload) }), relay.log.push(`frame ${f.kind} ${f.stream}`)) });
  const records = new RelayRecords({
    onData: (b) => parser.push(b),
    onEof: () => (relay.log.push('EOF'), parser.resync()),
    onEvent: (t) => (relay.events.push(t), relay.log.push(t)),
  });
  child.stdout?.on('data', (c: Buffer) => records.push(c));
  child.stderr?.on('data', (c: Buffer) => ((relay.stderr += c.toString()), process.stderr.write(c)));
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

it('keeps sending a source whose credit came at once when the port takes every write (nothing in poll() wakes it)', async () => {
  // A regular file as the port: no write ever blocks, as when the host drains the port as fast as it comes.
  const base = `${dir}/source-drained`;
  execFileSync('mkfifo', [`${base}-in`]);
  writeFileSync(`${base}-out`, '');
  const child = spawn(binary, [`${base}-in`, `${base}-out`], { stdio: ['pipe', 'pipe', 'inherit'] });
  cleanups.push(() => void child.kill('SIGKILL'));
  const events: string[] = [];
  const records = new RelayRecords({ onData: () => undefined, onEof: () => undefined, onEvent: (t) => void events.push(t) });
  child.stdout.on('data', (c: Buffer) => records.push(c));
  const host = await new Promise<number>((resolve, reject) => open(`${base}-in`, 'w', (e, fd) => (e ? reject(e) : resolve(fd))));
  cleanups.push(() => closeSync(host)); // a writer on the port's input: no end-of-file
  const content = randomBytes(8 << 20); // 16 rounds of 128 KiB per wake-up stopped at 2 MiB
  const file = tempFile('source-drained.bin', content);
  child.stdin.write(GUEST_HELLO); // what the host's parser hunts for first
  child.stdin.write(encodeCommand(`SOURCE 5 1 ${file.fd} 0 ${content.length} 262144`));
  child.stdin.write(encodeCommand(`GO 5 ${content.length}`));
  await until(() => events.includes(`DONE 5 ${content.length} 0 0`), 'DONE');
  let frames: Frame[] = [];
  const sent = (): number => {
    frames = [];
    new FrameParser({ frame: (f) => void frames.push({ ...f, payload: Buffer.from(f.payload) }) }).push(readFileSync(`${base}-out`));
    return frames.reduce((n, f) => n + (f.kind === FrameKind.Data ? f.payload.length : 0), 0);
  };
  await until(() => sent() === content.length, 'every byte');
  expect(frames.slice(1).every((f) => f.kind === FrameKind.Data && f.stream === 5 && f.flags === 1)).toBe(true);
  expect(Buffer.concat(frames.slice(1).map((f) => f.payload)).equals(content)).toBe(true);
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

const openFrame = (stream: number, request: object): Buffer => encodeJsonFrame(FrameKind.Open, stream, request);
const FAST = `FASTEXEC 262144 root /root /bin/sh /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
const outOf = (relay: Relay, stream: number): Frame[] => relay.out.filter((f) => f.stream === stream);
const finishOf = (relay: Relay, stream: number): unknown => {
  const f = outOf(relay, stream).find((x) => x.kind === FrameKind.Finish);
  return f && JSON.parse(f.payload.toString());
};
const bytesOn = (relay: Relay, stream: number, channel: number): Buffer =>
  Buffer.concat(outOf(relay, stream).filter((f) => f.kind === FrameKind.Data && f.flags === channel).map((f) => f.payload));

async function fastRelay(name: string, env: Record<string, string> = {}, underShell = false): Promise<Relay> {
  const relay = await startRelay(name, env, underShell);
  relay.agent(GUEST_HELLO);
  relay.host.write(HELLO);
  await until(() => relay.frames.length === 1, 'the Hello');
  relay.agent(encodeCommand(FAST));
  await until(() => relay.events.includes('FAST 1'), 'FAST 1'); // port and agent input are apart: the Open must come after
  return relay;
}

it('runs a plain exec itself after FASTEXEC: started, stdout and stderr apart, Close each, Finish with the exit code', async () => {
  const relay = await fastRelay('fast-exec');
  relay.host.write(openFrame(1, { op: 'exec', argv: ['sh', '-c', 'echo out; echo err >&2; exit 3'] }));
  await until(() => finishOf(relay, 1) !== undefined, 'Finish');
  const kinds = outOf(relay, 1).map((f) => (f.kind === FrameKind.Data || f.kind === FrameKind.Close ? `${f.kind}:${f.flags}` : `${f.kind}`));
  expect(kinds[0]).toBe(`${FrameKind.Control}`);
  expect(JSON.parse(outOf(relay, 1)[0]!.payload.toString())).toMatchObject({ type: 'started', pid: expect.any(Number) });
  expect(kinds.at(-1)).toBe(`${FrameKind.Finish}`);
  expect(kinds.filter((k) => k.startsWith(`${FrameKind.Close}:`)).sort()).toEqual([`${FrameKind.Close}:1`, `${FrameKind.Close}:2`]);
  expect(bytesOn(relay, 1, 1).toString()).toBe('out\n');
  expect(bytesOn(relay, 1, 2).toString()).toBe('err\n');
  expect(finishOf(relay, 1)).toEqual({ exitCode: 3, signal: null, timedOut: false });
  expect(relay.frames.filter((f) => f.stream === 1)).toHaveLength(0); // the agent never heard of it
  // The user's defaults (FASTEXEC), the request's variables over them, JSON escapes, and cwd.
  relay.host.write(openFrame(3, { op: 'exec', argv: ['sh', '-c', 'printf %s "$HOME:$USER:$FOO:$(pwd):$PATH"'], env: { FOO: 'b\u00e9"r\u{1F600}', HOME: '/h' }, cwd: '/tmp' }));
  await until(() => finishOf(relay, 3) !== undefined, 'Finish 3');
  expect(bytesOn(relay, 3, 1).toString()).toBe('/h:root:b\u00e9"r\u{1F600}:/tmp:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  // JSON's escapes, as another encoder may write them: \uXXXX of 1 to 4 UTF-8 bytes (a surrogate pair), \n \t \/ \\.
  const escaped = String.raw`{"op":"exec","argv":["printf","%s","A\u00e9\u20ac\ud83d\ude00\n\t\/\\"]}`;
  relay.host.write(encodeFrame({ kind: FrameKind.Open, flags: 0, stream: 5, payload: Buffer.from(escaped) }));
  await until(() => finishOf(relay, 5) !== undefined, 'Finish 5');
  expect(bytesOn(relay, 5, 1).toString()).toBe('A\u00e9\u20ac\u{1F600}\n\t/\\');
  expect(relay.stderr).toBe(''); // no timing lines unless asked for
});

it('writes a timing line per exec it runs, and its fast path\'s changes, on stderr when tracing (LODGE_AGENT_TRACE=1)', async () => {
  const relay = await fastRelay('traced', { LODGE_AGENT_TRACE: '1' });
  relay.host.write(openFrame(1, { op: 'exec', argv: ['sh', '-c', 'sleep 0.2'] }));
  await until(() => finishOf(relay, 1) !== undefined && /trace exec .*\n/.test(relay.stderr), 'Finish and its trace line');
  // Before it: the host's Hello (a new session) and the agent's FASTEXEC, each a line.
  expect(relay.stderr).toMatch(/^lodge-port: trace host Hello of session \w+ \(was none\)\nlodge-port: trace fast path on\n/);
  const line = /^lodge-port: trace exec sh: spawned ([\d.]+) → exited ([\d.]+) → finished ([\d.]+) \(total ([\d.]+) ms since the port read\)$/m.exec(relay.stderr);
  expect(line, relay.stderr).not.toBeNull();
  const [spawned = 0, exited = 0, finished = 0, total = 0] = line!.slice(1).map(Number);
  expect(exited).toBeGreaterThanOrEqual(200); // the program's own time
  expect(Math.abs(spawned + exited + finished - total)).toBeLessThanOrEqual(0.3); // the steps add up (rounding)
});

it('holds a new exec\'s frames to leave with its end, but never a byte past the bound, whatever its quiet time', async () => {
  // Outputs unwatched for 5 s: an exec that ends sooner is answered at its exit, and a longer one's started frame
  // leaves within the hold's 10 ms bound (plus this host's delays), not at the end of its quiet time.
  const relay = await fastRelay('fast-hold', { LODGE_PORT_QUIET_MS: '5000' });
  let sent = Date.now();
  relay.host.write(openFrame(1, { op: 'exec', argv: ['sh', '-c', 'echo short'] }));
  await until(() => finishOf(relay, 1) !== undefined, 'Finish');
  expect(Date.now() - sent).toBeLessThan(2500);
  expect(bytesOn(relay, 1, 1).toString()).toBe('short\n');
  sent = Date.now();
  relay.host.write(openFrame(3, { op: 'exec', argv: ['sleep', '30'] }));
  await until(() => outOf(relay, 3).length > 0, 'started');
  expect(Date.now() - sent).toBeLessThan(2500);
  const started = JSON.parse(outOf(relay, 3)[0]!.payload.toString()) as { type: string; pid: number };
  expect(started.type).toBe('started');
  relay.host.write(encodeJsonFrame(FrameKind.Reset, 3, { code: 'cancelled', message: 'done' }));
  await until(() => !isRunning(started.pid), 'the sleep killed'); // none left behind when the relay goes
});

it('kills a fast exec at its timeout, on a signal Control and on Reset; a new session ends its execs and the fast path', async () => {
  const relay = await fastRelay('fast-kill');
  relay.host.write(openFrame(1, { op: 'exec', argv: ['sleep', '30'], timeoutMs: 300 }));
  relay.host.write(openFrame(3, { op: 'exec', argv: ['sleep', '30'] }));
  relay.host.write(openFrame(5, { op: 'exec', argv: ['sleep', '30'] }));
  await until(() => [3, 5].every((s) => outOf(relay, s).length === 1), 'started');
  relay.host.write(control(3, { type: 'signal', signal: 'SIGTERM' }));
  relay.host.write(encodeJsonFrame(FrameKind.Reset, 5, { code: 'cancelled', message: 'x' }));
  await until(() => finishOf(relay, 1) !== undefined && finishOf(relay, 3) !== undefined, 'Finish 1 and 3');
  expect(finishOf(relay, 1)).toEqual({ exitCode: null, signal: 'SIGKILL', timedOut: true });
  expect(finishOf(relay, 3)).toEqual({ exitCode: null, signal: 'SIGTERM', timedOut: false });
  const pid5 = (JSON.parse(outOf(relay, 5)[0]!.payload.toString()) as { pid: number }).pid;
  await until(() => !isRunning(pid5), 'the reset exec killed');
  expect(outOf(relay, 5)).toHaveLength(1); // started only: nothing after a Reset
  relay.host.write(openFrame(7, { op: 'exec', argv: ['sleep', '30'] }));
  await until(() => outOf(relay, 7).length === 1, 'started 7');
  // An Open reusing a running exec's id is the agent's to refuse, never a second program.
  relay.host.write(openFrame(7, { op: 'exec', argv: ['true'] }));
  await until(() => relay.frames.some((f) => f.kind === FrameKind.Open && f.stream === 7), 'the reused Open at the agent');
  expect(outOf(relay, 7)).toHaveLength(1);
  const pid7 = (JSON.parse(outOf(relay, 7)[0]!.payload.toString()) as { pid: number }).pid;
  // A resend of the session's Hello (it crossed the answer) changes nothing; another session's Hello does.
  relay.host.write(HELLO);
  relay.host.write(openFrame(9, { op: 'exec', argv: ['true'] }));
  await until(() => finishOf(relay, 9) !== undefined, 'Finish 9 after a resent Hello');
  expect(isRunning(pid7)).toBe(true);
  relay.host.write(encodeJsonFrame(FrameKind.Hello, 0, { protocol: 1, role: 'host', session: 'fedcba9876543210' }));
  await until(() => !isRunning(pid7), 'a new session kills it');
  relay.host.write(openFrame(1, { op: 'exec', argv: ['true'] }));
  await until(() => relay.frames.some((f) => f.kind === FrameKind.Open && f.stream === 1), 'the Open to the agent (no FASTEXEC yet)');
});

it('kills a fast exec\'s whole process group: at its timeout (also what a program that exited left holding its outputs), on a signal, on Reset', async () => {
  const relay = await fastRelay('fast-group');
  relay.host.write(openFrame(1, { op: 'exec', argv: ['sh', '-c', 'sleep 30.1; true'], timeoutMs: 300 }));
  relay.host.write(openFrame(3, { op: 'exec', argv: ['sh', '-c', 'sleep 30.3 & exit 0'], timeoutMs: 300 }));
  relay.host.write(openFrame(5, { op: 'exec', argv: ['sh', '-c', 'sleep 30.5; true'] }));
  relay.host.write(openFrame(7, { op: 'exec', argv: ['sh', '-c', 'sleep 30.7; true'] }));
  await until(() => [5, 7].every((s) => outOf(relay, s).length === 1) && processesRunning(['sleep', '30.7']).length === 1, 'started');
  relay.host.write(control(5, { type: 'signal', signal: 'SIGTERM' }));
  relay.host.write(encodeJsonFrame(FrameKind.Reset, 7, { code: 'cancelled', message: 'x' }));
  await until(() => [1, 3, 5].every((s) => finishOf(relay, s) !== undefined), 'Finish 1, 3 and 5', 5000);
  expect(finishOf(relay, 1)).toEqual({ exitCode: null, signal: 'SIGKILL', timedOut: true });
  expect(finishOf(relay, 3)).toEqual({ exitCode: 0, signal: null, timedOut: false }); // it exited in time
  expect(finishOf(relay, 5)).toEqual({ exitCode: null, signal: 'SIGTERM', timedOut: false });
  await until(() => ['30.1', '30.3', '30.5', '30.7'].every((t) => processesRunning(['sleep', t]).length === 0), 'every sleep gone');
});

it('kills its execs when the agent goes (its end-of-file, or EPIPE when it was killed), instead of leaving them without an owner, and exits 0', async () => {
  const relay = await fastRelay('fast-orphan');
  relay.host.write(openFrame(1, { op: 'exec', argv: ['sleep', '30'] }));
  await until(() => outOf(relay, 1).length === 1, 'started');
  const pid = (JSON.parse(outOf(relay, 1)[0]!.payload.toString()) as { pid: number }).pid;
  const exited = new Promise((resolve) => relay.child.once('exit', (code) => resolve(code)));
  relay.child.stdin?.end();
  expect(await exited).toBe(0);
  await until(() => !isRunning(pid), 'the exec killed');
  // An agent killed (-9) is seen first as a write it no longer takes (EPIPE): the same end.
  const second = await fastRelay('fast-orphan-2');
  second.host.write(openFrame(1, { op: 'exec', argv: ['sh', '-c', 'sleep 30.9; true'] }));
  await until(() => processesRunning(['sleep', '30.9']).length === 1, 'started');
  const gone = new Promise((resolve) => second.child.once('exit', (code) => resolve(code)));
  second.child.stdout?.destroy();
  second.host.write(openFrame(3, { op: 'info' })); // for the agent: a write to it
  expect(await gone).toBe(0);
  await until(() => processesRunning(['sleep', '30.9']).length === 0, 'its exec killed, with what it started');
});

it('kills its execs when a signal ends it: SIGTERM from outside (it still dies by it), SIGHUP when the agent dies', async () => {
  const relay = await fastRelay('fast-term');
  relay.host.write(openFrame(1, { op: 'exec', argv: ['sh', '-c', 'sleep 30.2; true'] }));
  await until(() => processesRunning(['sleep', '30.2']).length === 1, 'started');
  const ended = new Promise((resolve) => relay.child.once('exit', (code, signal) => resolve(signal)));
  relay.child.kill('SIGTERM');
  expect(await ended).toBe('SIGTERM'); // the agent restarts a relay killed from outside without counting a failure
  await until(() => processesRunning(['sleep', '30.2']).length === 0, 'its exec killed, with what it started');
  // The agent killed -9: PR_SET_PDEATHSIG sends SIGHUP (the relay's stdin, here held by this test, never ends).
  const orphan = await fastRelay('fast-pdeath', {}, true);
  orphan.host.write(openFrame(1, { op: 'exec', argv: ['sh', '-c', 'sleep 30.4; true'] }));
  await until(() => processesRunning(['sleep', '30.4']).length === 1, 'started');
  orphan.child.kill('SIGKILL');
  await until(() => processesRunning(['sleep', '30.4']).length === 0, 'its exec killed when its parent died');
  await until(() => processesRunning([binary, `${dir}/fast-pdeath-in`, `${dir}/fast-pdeath-out`]).length === 0, 'the relay gone');
});

it('keeps the fast path through a HelloAck, which carries the agent\'s own id, and ends it with its execs on ENDEXEC', async () => {
  const relay = await fastRelay('fast-ack');
  // After a daemon restart the host says Hello and answers the agent's: that HelloAck may come after FASTEXEC.
  relay.host.write(encodeJsonFrame(FrameKind.HelloAck, 0, { protocol: 1, role: 'host', session: 'aaaaaaaaaaaaaaaa' }));
  relay.host.write(openFrame(1, { op: 'exec', argv: ['sleep', '30'] }));
  await until(() => outOf(relay, 1).length === 1, 'started by the relay');
  expect(relay.frames.filter((f) => f.stream === 1)).toHaveLength(0);
  const pid = (JSON.parse(outOf(relay, 1)[0]!.payload.toString()) as { pid: number }).pid;
  // The agent's session ended where the relay cannot see it (a framing error, say): ENDEXEC.
  relay.agent(encodeCommand('ENDEXEC'));
  await until(() => !isRunning(pid) && relay.events.includes('FAST 0'), 'ENDEXEC kills it');
  relay.host.write(openFrame(3, { op: 'exec', argv: ['true'] }));
  await until(() => relay.frames.some((f) => f.kind === FrameKind.Open && f.stream === 3), 'the next Open at the agent');
});

it.skipIf(process.getuid?.() !== 0)('runs an exec as a user itself: uid, gid and groups as the agent resolves them, the user\'s HOME, USER, SHELL and cwd', async () => {
  const relay = await fastRelay('fast-user');
  const script = 'echo $(id -u) $(id -g) $(id -G); echo "$HOME:$USER:$LOGNAME:$SHELL:$(pwd)"';
  const asUser = async (stream: number, request: object): Promise<string[]> => {
    relay.host.write(openFrame(stream, { op: 'exec', argv: ['sh', '-c', script], ...request }));
    await until(() => finishOf(relay, stream) !== undefined, `Finish ${stream}`);
    expect(finishOf(relay, stream)).toEqual({ exitCode: 0, signal: null, timedOut: false });
    expect(relay.frames.filter((f) => f.stream === stream)).toHaveLength(0); // the relay ran it, not the agent
    return bytesOn(relay, stream, 1).toString().trim().split('\n');
  };
  // nobody as this host's own tools see it (Debian's home for it, /nonexistent, is no folder: the cwd is then /).
  const id = (flag: string, user = 'nobody'): string => execFileSync('id', [flag, user], { encoding: 'utf8' }).trim();
  const [, , , , , home = '', shell = ''] = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('nobody:'))?.split(':') ?? [];
  const cwd = existsSync(home) && statSync(home).isDirectory() ? home : '/';
  expect(await asUser(1, { user: 'nobody' })).toEqual([`${id('-u')} ${id('-g')} ${id('-G')}`, `${home}:nobody:nobody:${shell}:${cwd}`]);
  // A uid without a row is itself (home /, shell /bin/sh), a group by number; the request's variables win.
  expect(await asUser(3, { user: '4242:0', env: { HOME: '/h' }, cwd: '/tmp' })).toEqual(['4242 0 0', '/h:4242:4242:/bin/sh:/tmp']);
  // A group by name becomes the primary one, ahead of the groups that list the user.
  const nogroup = execFileSync('getent', ['group', 'nogroup'], { encoding: 'utf8' }).split(':')[2];
  const [ids] = await asUser(5, { user: 'root:nogroup' });
  expect(ids?.split(' ').slice(0, 2)).toEqual(['0', nogroup]);
});

it('leaves to the agent what it does not run: a tty, unknown fields, a user or group it cannot find, a missing program or cwd, bad JSON', async () => {
  const relay = await fastRelay('fast-fallback');
  const requests: object[] = [
    { op: 'exec', argv: ['cat'], stdin: 1 },
    { op: 'exec', argv: ['true'], user: 'no-such-user' },
    { op: 'exec', argv: ['true'], user: 'root:no-such-group' },
    { op: 'exec', argv: ['true'], tty: { rows: 1, cols: 1 } },
    { op: 'exec', argv: ['true'], other: 1 },
    { op: 'exec', argv: ['/no/such/program'] },
    { op: 'exec', argv: ['true'], cwd: '/no/such/folder' },
    { op: 'exec', argv: [''] },
    { op: 'exec', argv: ['true'], timeoutMs: 1.5 },
    { op: 'info' },
  ];
  requests.forEach((r, i) => relay.host.write(openFrame(2 * i + 1, r)));
  relay.host.write(encodeFrame({ kind: FrameKind.Open, flags: 0, stream: 99, payload: Buffer.from('{"op":"exec","argv":["a\\u0000b"]}') }));
  await until(() => relay.frames.filter((f) => f.kind === FrameKind.Open).length === requests.length + 1, 'every Open at the agent');
  expect(relay.frames.filter((f) => f.kind === FrameKind.Open).map((f) => f.stream)).toEqual([...requests.map((_, i) => 2 * i + 1), 99]);
  expect(relay.out.filter((f) => f.stream !== 0)).toHaveLength(0);
});

it('sends a fast exec\'s output within the host\'s credit, and returns the credit of input it does not take', async () => {
  const relay = await fastRelay('fast-credit');
  relay.host.write(openFrame(1, { op: 'exec', argv: ['head', '-c', '3000000', '/dev/zero'] }));
  await until(() => bytesOn(relay, 1, 1).length === 1024 * 1024, 'the initial window');
  await new Promise((r) => setTimeout(r, 50));
  expect(bytesOn(relay, 1, 1).length).toBe(1024 * 1024);
  relay.host.write(window(1, 1, 2_000_000));
  await until(() => finishOf(relay, 1) !== undefined, 'Finish');
  expect(bytesOn(relay, 1, 1).length).toBe(3_000_000);
  expect(outOf(relay, 1).every((f) => f.payload.length <= 262144)).toBe(true);
  relay.host.write(openFrame(3, { op: 'exec', argv: ['sleep', '0.3'] }));
  relay.host.write(data(3, 0, Buffer.alloc(5000)));
  await until(() => finishOf(relay, 3) !== undefined, 'Finish 3');
  expect(outOf(relay, 3).filter((f) => f.kind === FrameKind.Window).map((f) => [f.flags, f.payload.readUInt32BE()])).toEqual([[0, 5000]]);
});

it('streams a fast exec\'s stdin within the credit it returns as the pipe takes it, and ends it at Close', async () => {
  const relay = await fastRelay('fast-stdin');
  relay.host.write(openFrame(1, { op: 'exec', argv: ['sh', '-c', 'head -c 5; echo; sleep 0.2; wc -c'], stdin: true }));
  const input = Buffer.from(Array.from({ length: 3_000_000 }, (_, i) => 97 + (i % 26)));
  // A host that keeps to its credit on channel 0: 1 MiB, then what the relay's Windows give back.
  let credit = 1024 * 1024;
  let at = 0;
  const returned = (): number => outOf(relay, 1).filter((f) => f.kind === FrameKind.Window && f.flags === 0).reduce((n, f) => n + f.payload.readUInt32BE(), 0);
  while (at < input.length) {
    const n = Math.min(input.length - at, 200_000, credit + returned() - at);
    if (n <= 0) {
      await new Promise((r) => setTimeout(r, 5));
      continue;
    }
    relay.host.write(data(1, 0, input.subarray(at, at + n)));
    at += n;
  }
  relay.host.write(encodeFrame({ kind: FrameKind.Close, flags: 0, stream: 1, payload: Buffer.alloc(0) }));
  await until(() => finishOf(relay, 1) !== undefined, 'Finish');
  expect(bytesOn(relay, 1, 1).toString().split(/\s+/).filter(Boolean)).toEqual(['abcde', String(input.length - 5)]);
  expect(finishOf(relay, 1)).toEqual({ exitCode: 0, signal: null, timedOut: false });
  expect(returned()).toBe(input.length);
  expect(relay.frames.filter((f) => f.stream === 1)).toHaveLength(0);
});
