// The port reader alone against `dd`, both reading a FIFO in reads of at most 4 KiB (what a virtio-serial port gives).
// The ratio estimates how close the agent's reader gets to dd inside a guest. Build first (uses dist/port-reader.js).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

process.env.LODGE_PORT_READ_MAX ??= '4096';
const { startPortReader } = await import('../dist/port-reader.js');
const MiB = Number(process.argv[2] ?? 1024);
const dir = mkdtempSync(join(tmpdir(), 'lodge-rb-'));
const fifo = join(dir, 'fifo');
execFileSync('mkfifo', [fifo]);
const writer = () => spawn('dd', ['if=/dev/zero', `of=${fifo}`, 'bs=1M', `count=${MiB}`], { stdio: 'ignore' });
const closed = (child) => new Promise((r) => child.on('close', r));
const rate = (t0) => (MiB / ((performance.now() - t0) / 1000)).toFixed(0);

try {
  let t0 = performance.now();
  const w1 = writer();
  await Promise.all([closed(w1), closed(spawn('dd', [`if=${fifo}`, 'of=/dev/null', `bs=${process.env.LODGE_PORT_READ_MAX}`], { stdio: 'ignore' }))]);
  console.log(`dd bs=${process.env.LODGE_PORT_READ_MAX} reading the FIFO: ${rate(t0)} MiB/s`);

  t0 = performance.now();
  const w2 = closed(writer());
  let got = 0;
  let batches = 0;
  await new Promise((resolve, reject) => {
    const reader = startPortReader({ path: fifo }, {
      onData: (c) => {
        got += c.length;
        batches++;
      },
      onEof: () => {
        reader.close();
        resolve();
      },
      onReconnect: () => undefined,
      onError: reject,
    });
  });
  await w2;
  console.log(`port reader (worker, ≤${process.env.LODGE_PORT_READ_MAX} B per read): ${rate(t0)} MiB/s, ${got === MiB * 1048576 ? 'all bytes' : `${got} bytes`}, average batch ${(got / batches / 1024).toFixed(0)} KiB`);
} finally {
  rmSync(dir, { recursive: true, force: true });
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), 50);
}
