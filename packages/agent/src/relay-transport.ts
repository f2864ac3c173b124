// The port through lodge-port (native/lodge-port.c): ordinary epoll-driven socket streams to a small C relay,
// no reader thread and no sync write. A relay that keeps dying hands over to the worker-thread reader.

import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { HEADER_SIZE, MAX_PAYLOAD } from '@lodge/api/guest';
import { FilePlane } from './file-plane.js';
import { logError } from './log.js';
import { RelayRecords } from './relay-records.js';
import { writeToStream, type Transport, type TransportHandlers } from './transport.js';

/** A relay that exits sooner than this after it started counts as failing; after MAX_FAILURES: fall back. */
const QUICK_EXIT_MS = 2000;
const MAX_FAILURES = 3;
/** Signals sent from outside (a user's kill, the OOM killer): the relay is restarted, it did not fail. */
const KILLED_FROM_OUTSIDE = new Set(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGHUP']);

export interface RelayOptions {
  binary: string;
  /** lodge-port's arguments: the device, or the input and output FIFOs. */
  args: string[];
  /** The transport to use instead once the relay cannot run (reads the port itself). */
  fallback(handlers: TransportHandlers): Transport;
}

export function openRelayTransport(options: RelayOptions, handlers: TransportHandlers): Transport {
  const stats = { bytesIn: 0, bytesOut: 0, writes: 0, reads: 0 };
  let child: ChildProcess | undefined;
  let input: Writable | undefined;
  let fallback: Transport | undefined;
  let connected = false;
  let closed = false;
  let failures = 0;
  let restarted = false;
  // Commands go to the relay even while the host is away (they are not for the port).
  const plane = new FilePlane((frame) => void input?.write(frame));
  const disconnect = (reason: string): void => {
    if (!connected) return;
    connected = false;
    handlers.onDisconnect(reason);
  };
  const records = new RelayRecords({
    onData: (bytes) => {
      stats.bytesIn += bytes.length;
      if (!connected) {
        // Data after end-of-file (or after a relay restart): the host is there again.
        connected = true;
        handlers.onConnect();
      }
      handlers.onData(bytes);
    },
    onEof: () => disconnect('the host closed the port'),
    onEvent: (text) => plane.event(text),
  });

  const start = (): void => {
    const started = Date.now();
    // A relay after one that died: it first pads out a frame the dead one may have cut short (see lodge-port.c).
    const env = restarted ? { ...process.env, LODGE_PORT_PAD: String(HEADER_SIZE + MAX_PAYLOAD) } : process.env;
    restarted = true;
    const c = spawn(options.binary, options.args, { stdio: ['pipe', 'pipe', 'inherit'], env });
    child = c;
    input = c.stdin as Writable;
    input.on('drain', () => handlers.onDrain());
    input.on('error', () => undefined); // the relay died: 'close' below handles it
    (c.stdout as Readable).on('data', (chunk: Buffer) => {
      stats.reads++;
      records.push(chunk);
    });
    c.on('error', () => undefined); // spawn failed: 'close' follows
    // Hello at once: if the host is not there the relay drops it, reports end-of-file, and we resend on its return.
    queueMicrotask(() => {
      if (closed || child !== c || connected) return;
      connected = true;
      handlers.onConnect();
    });
    c.on('close', (code, signal) => {
      if (closed || child !== c) return;
      child = input = undefined;
      records.reset();
      plane.reset();
      const why = `lodge-port ${options.binary} ended (${signal ?? `code ${code}`})`;
      disconnect(why);
      // Only the relay's own failures count (an exit code, a crash): killing it thrice quickly is no reason to stop using it.
      if (signal && KILLED_FROM_OUTSIDE.has(signal)) return start();
      failures = Date.now() - started < QUICK_EXIT_MS ? failures + 1 : 1;
      if (failures < MAX_FAILURES) return start();
      logError(`${why} ${failures} times in a row; reading the port from Node instead`);
      fallback = options.fallback(handlers);
    });
  };
  start();

  return {
    write(bytes, written) {
      return fallback ? fallback.write(bytes, written) : writeToStream(input, connected, stats, bytes, written);
    },
    close() {
      closed = true;
      fallback?.close();
      child?.kill('SIGKILL');
      child?.stdin?.destroy();
      child?.stdout?.destroy();
    },
    get plane() {
      return fallback || !input ? undefined : plane;
    },
    get stats() {
      return fallback ? fallback.stats : stats;
    },
  };
}
