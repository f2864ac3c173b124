// What the socat bridges of the vsock path cost, measured on the host with unix sockets in place of AF_VSOCK (no host
// here has vhost-vsock): the daemon's `socat STDIO <addr>` and the agent's `socat <listen> STDIO`, same arguments as
// agent/vsock-bridge.ts and the agent's vsock-transport.ts, against a direct unix socket in the same run.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { Duplex } from 'node:stream';
import { median, sleep } from './bench-kit.js';

const ECHOES = 300;
const BYTES = 256 * 2 ** 20;
const dir = mkdtempSync(`${tmpdir()}/lodge-bench-vsock-`);
const children: ChildProcess[] = [];

/** The "guest" end: echoes, or swallows and counts, or sends BYTES, per the first byte it reads. */
function serve(socket: Duplex): void {
  let mode: number | undefined;
  let got = 0;
  socket.on('data', (chunk: Buffer) => {
    if (mode === undefined) [mode, chunk] = [chunk[0], chunk.subarray(1)];
    if (mode === 1) socket.write(chunk);
    if (mode === 2 && (got += chunk.length) >= BYTES) socket.write('k');
    if (mode === 3 && chunk.length === 0) sendAll(socket);
  });
  socket.on('error', () => undefined);
}

async function sendAll(socket: Duplex): Promise<void> {
  const block = Buffer.alloc(256 * 1024);
  for (let sent = 0; sent < BYTES; sent += block.length) if (!socket.write(block)) await new Promise((r) => socket.once('drain', r));
}

/** A connected pair: direct unix socket, or through both socats. */
async function pair(bridged: boolean): Promise<Duplex> {
  const path = `${dir}/${bridged ? 'b' : 'd'}-${Date.now()}.sock`;
  if (!bridged) {
    const server = createServer(serve).listen(path);
    await new Promise((r) => server.once('listening', r));
    const s = connect(path);
    await new Promise((r) => s.once('connect', r));
    return s;
  }
  const guest = spawn('socat', ['-b', '65536', `UNIX-LISTEN:${path}`, 'STDIO'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const host = spawn('socat', ['-b', '65536', 'STDIO', `UNIX-CONNECT:${path},retry=50,interval=0.05`], { stdio: ['pipe', 'pipe', 'ignore'] });
  children.push(guest, host);
  serve(Duplex.from({ readable: guest.stdout, writable: guest.stdin }).on('error', () => undefined));
  return Duplex.from({ readable: host.stdout, writable: host.stdin }).on('error', () => undefined);
}

async function measure(bridged: boolean): Promise<{ rttMs: number; h2gMBs: number; g2hMBs: number }> {
  const echo = await pair(bridged);
  echo.write(Buffer.from([1]));
  const msg = Buffer.alloc(64, 7);
  const times: number[] = [];
  for (let i = 0; i < ECHOES; i++) {
    const t = performance.now();
    echo.write(msg);
    for (let n = 0; n < 64; ) n += ((await new Promise((r) => echo.once('data', r))) as Buffer).length;
    times.push(performance.now() - t);
  }
  echo.destroy();
  const up = await pair(bridged);
  let t = performance.now();
  up.write(Buffer.from([2]));
  const done = new Promise((r) => up.once('data', r));
  await sendAll(up);
  await done;
  const h2gMBs = BYTES / 1e6 / ((performance.now() - t) / 1000);
  up.destroy();
  const down = await pair(bridged);
  let got = 0;
  t = performance.now();
  const all = new Promise<void>((r) => down.on('data', (c: Buffer) => (got += c.length) >= BYTES && r()));
  down.write(Buffer.from([3]));
  await all;
  down.destroy();
  return { rttMs: median(times.slice(20)), h2gMBs, g2hMBs: BYTES / 1e6 / ((performance.now() - t) / 1000) };
}

try {
  const direct = await measure(false);
  const bridged = await measure(true);
  const f = (x: number): string => x.toFixed(x < 1 ? 3 : 0);
  console.log(`64-byte echo p50: direct ${f(direct.rttMs)} ms, through both socats ${f(bridged.rttMs)} ms (+${f(bridged.rttMs - direct.rttMs)} ms)`);
  console.log(`host→guest: direct ${f(direct.h2gMBs)} MB/s, bridged ${f(bridged.h2gMBs)} MB/s, ratio ${(bridged.h2gMBs / direct.h2gMBs).toFixed(2)}`);
  console.log(`guest→host: direct ${f(direct.g2hMBs)} MB/s, bridged ${f(bridged.g2hMBs)} MB/s, ratio ${(bridged.g2hMBs / direct.g2hMBs).toFixed(2)}`);
} finally {
  for (const c of children) c.kill('SIGKILL');
  await sleep(50);
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
