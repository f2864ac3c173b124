// Layer probe of the guest channel (no daemon): a host session straight on a VM folder's agent.sock times
// Ping, `info`, and files.get / files.put of a guest file. Run with lodged stopped (it holds agent.sock):
//   node bench/dist/channel-probe.js VM_FOLDER GUEST_FILE [MiB [small|get]]
import { connect } from 'node:net';
import { join } from 'node:path';
import { Channel, createSession, type Session } from '@lodge/api/guest';
import { median } from './bench-kit.js';

const [folder, guestFile, mbArg, only] = process.argv.slice(2);
if (!folder || !guestFile) throw new Error('usage: channel-probe VM_FOLDER GUEST_FILE [MiB]');
const BYTES = Number(mbArg ?? 64) * 2 ** 20;

async function open(): Promise<Session> {
  const sock = connect(join(folder as string, 'agent.sock'));
  let ready!: () => void;
  const up = new Promise<void>((r) => (ready = r));
  const session: Session = createSession({ role: 'host', write: (b) => sock.write(b), onOpen: (s) => s.reset({ code: 'protocol_error', message: 'no' }), onReady: () => ready() });
  sock.on('data', (c: Buffer) => session.receive(c));
  sock.on('drain', () => session.drain());
  await new Promise((r) => sock.once('connect', r));
  session.connect();
  await up;
  // A just-started agent's own Hello may cross ours and reset the session once: let that settle first.
  await new Promise((r) => setTimeout(r, 1500));
  while (!session.ready) await new Promise((r) => setTimeout(r, 100));
  return session;
}

async function times(n: number, once: () => Promise<unknown>): Promise<string> {
  const t: number[] = [];
  for (let i = 0; i < n + 1; i++) {
    const t0 = performance.now();
    await once();
    if (i > 0) t.push(performance.now() - t0);
  }
  return `p50 ${median(t).toFixed(2)} ms, min ${Math.min(...t).toFixed(2)} ms`;
}

const session = await open();
console.log(`ping      ${await times(50, () => session.ping(5000))}`);
console.log(`info      ${await times(20, () => session.open({ op: 'info' }).result())}`);
if (only === 'small') process.exit(0);
let t0 = performance.now();
let got = 0;
const get = session.open({ op: 'files.get', path: guestFile });
get.on('data', (ch, c) => ((got += c.length), get.consumed(ch, c.length)));
await get.result();
const down = performance.now() - t0;
console.log(`files.get ${got} bytes: ${(got / 2 ** 20 / (down / 1000)).toFixed(1)} MB/s`);
if (only === 'get') process.exit(0);
t0 = performance.now();
const put = session.open({ op: 'files.put', path: '/tmp/probe-up.bin' });
put.control({ type: 'entry', path: 'probe-up.bin', kind: 'file', mode: 0o644, size: BYTES, mtimeMs: Date.now() });
const chunk = Buffer.alloc(256 * 1024, 7);
for (let sent = 0; sent < BYTES; sent += chunk.length) await put.write(Channel.Input, chunk);
put.end(Channel.Input);
await put.result();
console.log(`files.put ${BYTES} bytes: ${(BYTES / 2 ** 20 / ((performance.now() - t0) / 1000)).toFixed(1)} MB/s`);
process.exit(0);
