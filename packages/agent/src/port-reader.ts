// Reads the port in a worker thread (blocking readSync, ≤ 4 KiB per call on virtio-serial) into a shared ring.
// The main thread takes everything that accumulated in one batch, so small messages go at once and bulk coalesces.

import { Worker } from 'node:worker_threads';

const RING = 1024 * 1024;
const MAX_BATCH = 256 * 1024;
/** ctl cells: bytes in the ring; reconnect acknowledgements. */
const USED = 0;
const ACK = 1;

// Plain CommonJS run with eval: no second module file to load, no bundle to parse again in the worker.
const WORKER_SOURCE = `
const { readSync, openSync } = require('fs');
const { parentPort, workerData } = require('worker_threads');
const { ring, ctl, RING, path, fd: givenFd, maxRead } = workerData;
const buf = Buffer.from(ring);
const nap = new Int32Array(new SharedArrayBuffer(4));
let fd = givenFd;
let head = 0;
try {
  if (fd < 0) fd = openSync(path, 'r');
  for (;;) {
    const used = Atomics.load(ctl, ${USED});
    if (used === RING) { Atomics.wait(ctl, ${USED}, RING); continue; }
    const n = readSync(fd, buf, head, Math.min(RING - used, RING - head, maxRead), null);
    if (n > 0) {
      head = (head + n) % RING;
      if (Atomics.add(ctl, ${USED}, n) === 0) Atomics.notify(ctl, ${USED});
      continue;
    }
    // End-of-file: the host end is closed. Let the main thread drain, report, then poll every 100 ms.
    while (Atomics.load(ctl, ${USED}) !== 0) Atomics.wait(nap, 0, 0, 5);
    parentPort.postMessage({ type: 'eof' });
    const probe = Buffer.allocUnsafe(65536);
    let got = 0;
    while ((got = readSync(fd, probe, 0, probe.length, null)) === 0) Atomics.wait(nap, 0, 0, 100);
    const ack = Atomics.load(ctl, ${ACK});
    parentPort.postMessage({ type: 'data', bytes: probe.subarray(0, got) });
    while (Atomics.load(ctl, ${ACK}) === ack) Atomics.wait(ctl, ${ACK}, ack);
  }
} catch (error) {
  parentPort.postMessage({ type: 'error', message: String(error && error.message || error), code: error && error.code });
}
`;

export interface PortReaderHandlers {
  onData(chunk: Buffer): void;
  /** Host end closed (read returned 0); reading resumes by itself. */
  onEof(): void;
  /** Data after an end-of-file: call onData with `first` after reconnecting. */
  onReconnect(first: Buffer): void;
  onError(error: Error): void;
}

export interface PortReader {
  close(): void;
  reads: number;
  bytesIn: number;
}

/** Starts the reader on `fd`, or on `path` opened by the worker (a FIFO's open blocks until a writer comes). */
export function startPortReader(source: { fd: number } | { path: string }, handlers: PortReaderHandlers): PortReader {
  const ring = new SharedArrayBuffer(RING);
  const ctl = new Int32Array(new SharedArrayBuffer(8));
  const view = Buffer.from(ring);
  const fd = 'fd' in source ? source.fd : -1;
  const path = 'path' in source ? source.path : '';
  // LODGE_PORT_READ_MAX: benchmarks on the host imitate virtio-serial's 4 KiB per read().
  const maxRead = Number(process.env.LODGE_PORT_READ_MAX) || RING;
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ring, ctl, RING, path, fd, maxRead } });
  let tail = 0;
  let closed = false;
  const reader: PortReader = {
    reads: 0,
    bytesIn: 0,
    close() {
      closed = true;
      void worker.terminate();
    },
  };

  const consume = (): void => {
    if (closed) return;
    const used = Atomics.load(ctl, USED);
    if (used === 0) {
      const wait = Atomics.waitAsync(ctl, USED, 0);
      if (wait.async) void wait.value.then(consume);
      else setImmediate(consume);
      return;
    }
    const n = Math.min(used, MAX_BATCH);
    const chunk = Buffer.allocUnsafe(n);
    const first = Math.min(n, RING - tail);
    view.copy(chunk, 0, tail, tail + first);
    if (first < n) view.copy(chunk, first, 0, n - first);
    tail = (tail + n) % RING;
    if (Atomics.sub(ctl, USED, n) === RING) Atomics.notify(ctl, USED);
    reader.reads++;
    reader.bytesIn += n;
    try {
      handlers.onData(chunk);
    } finally {
      // One batch per turn of the event loop: writes and timers run between batches.
      setImmediate(consume);
    }
  };

  worker.on('message', (message: { type: string; bytes?: Uint8Array; message?: string; code?: string }) => {
    if (closed) return;
    if (message.type === 'eof') handlers.onEof();
    else if (message.type === 'data' && message.bytes) {
      const bytes = Buffer.from(message.bytes.buffer, message.bytes.byteOffset, message.bytes.byteLength);
      reader.bytesIn += bytes.length;
      try {
        handlers.onReconnect(bytes);
      } finally {
        Atomics.add(ctl, ACK, 1);
        Atomics.notify(ctl, ACK);
      }
    } else if (message.type === 'error') {
      handlers.onError(Object.assign(new Error(`reading the port: ${message.message}`), { code: message.code }));
    }
  });
  worker.on('error', (error) => {
    if (!closed) handlers.onError(error);
  });
  consume();
  return reader;
}
