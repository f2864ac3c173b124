// Measures agent throughput on the host: a host-role session here, the bundled agent in a child process.
// Usage: node scripts/throughput.mjs [socket|fifo] [MiB]   (build first; LODGE_PORT_READ_MAX=4096 imitates virtio reads)
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Channel, createSession } from '@lodge/api/guest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv[2] ?? 'socket';
const MiB = Number(process.argv[3] ?? 512);
const bytes = MiB * 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'lodge-tp-'));
let agent;
let write = () => true;
const host = createSession({ role: 'host', write: (b) => write(b), onOpen: (s) => s.reset({ code: 'invalid_argument', message: 'no' }) });
const ready = new Promise((resolve) => {
  const check = setInterval(() => host.ready && (clearInterval(check), resolve()), 5);
});

function attach(readable, writable) {
  write = (b) => writable.write(b);
  for (const s of [readable, writable]) s.on('error', (e) => console.error(`transport: ${e.message}`));
  writable.on('drain', () => host.drain());
  readable.on('data', (c) => host.receive(c));
}

try {
  if (mode === 'socket') {
    const sock = join(dir, 'agent.sock');
    const server = createServer((s) => {
      attach(s, s);
      host.connect();
    });
    await new Promise((r) => server.listen(sock, r));
    agent = spawn(process.env.AGENT_NODE ?? process.execPath, [...(process.env.PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.PROF] : []), process.env.AGENT_ENTRY ?? join(root, 'dist/lodge-agent.mjs'), '--port', sock, '--no-bus'], { stdio: 'inherit' });
  } else {
    const toAgent = join(dir, 'in');
    const fromAgent = join(dir, 'out');
    execFileSync('mkfifo', [toAgent, fromAgent]);
    agent = spawn(process.env.AGENT_NODE ?? process.execPath, [join(root, 'dist/lodge-agent.mjs'), '--port-in', toAgent, '--port-out', fromAgent, '--no-bus'], { stdio: 'inherit' });
    const out = new Socket({ fd: openSync(toAgent, 'r+'), readable: false, writable: true });
    const inp = new Socket({ fd: openSync(fromAgent, 'r+'), readable: true, writable: false });
    attach(inp, out);
    host.connect();
  }
  await ready;

  const measure = async (label, fn) => {
    const t0 = performance.now();
    await fn();
    const s = (performance.now() - t0) / 1000;
    console.log(`${mode.padEnd(6)} ${label.padEnd(34)} ${(MiB / s).toFixed(0).padStart(5)} MiB/s  (${MiB} MiB in ${s.toFixed(2)} s)`);
  };
  agent.on('exit', (code, signal) => signal !== 'SIGKILL' && signal !== 'SIGINT' && console.error(`agent exited: ${code ?? signal}`));
  const sink = (stream) => stream.on('data', (ch, c) => stream.consumed(ch, c.length));

  await measure('guest→host exec stdout (head)', async () => {
    const s = host.open({ op: 'exec', argv: ['head', '-c', String(bytes), '/dev/zero'] });
    sink(s);
    await s.result();
  });
  const big = join('/dev/shm', `lodge-tp-${process.pid}`);
  execFileSync('truncate', ['-s', String(bytes), big]);
  try {
    await measure('guest→host files.get (sparse file)', async () => {
      const s = host.open({ op: 'files.get', path: big });
      sink(s);
      await s.result();
    });
  } finally {
    rmSync(big, { force: true });
  }
  await measure('host→guest exec stdin (cat>/dev/null)', async () => {
    const s = host.open({ op: 'exec', argv: ['sh', '-c', 'cat > /dev/null'], stdin: true });
    sink(s);
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < MiB; i++) await s.write(Channel.Input, chunk);
    s.end(Channel.Input);
    await s.result();
  });
  await measure('host→guest files.put (/dev/shm)', async () => {
    const s = host.open({ op: 'files.put', path: `/dev/shm/lodge-tp-put-${process.pid}` });
    s.control({ type: 'entry', path: 'f', kind: 'file', mode: 0o644, size: bytes, mtimeMs: Date.now() });
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < MiB; i++) await s.write(Channel.Input, chunk);
    s.end(Channel.Input);
    await s.result();
    rmSync(`/dev/shm/lodge-tp-put-${process.pid}`, { force: true });
  });
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) await host.ping(1000);
  console.log(`${mode.padEnd(6)} ping round trip                     ${((performance.now() - t0) / 200).toFixed(3)} ms`);
} finally {
  agent?.kill(process.env.PROF ? 'SIGINT' : 'SIGKILL');
  host.close();
  rmSync(dir, { recursive: true, force: true });
  setTimeout(() => process.exit(0), 100);
}
