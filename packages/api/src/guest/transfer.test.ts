import { beforeAll, describe, expect, it } from 'vitest';
import { Channel, INITIAL_WINDOW, MAX_PAYLOAD, type Stream } from './contract.js';
import { sessionPair, until, type PipeOptions } from './session-pair.js';
import type { GuestStream } from './stream.js';

const MB = 1024 * 1024;
const WRITE = 64 * 1024;
/** Writes the producer keeps outstanding (like a file reader ahead of the socket). */
const AHEAD = 8;

/** Guest → host: total bytes in WRITE-sized writes; the host passes data on one turn later, then returns credit. */
async function transfer(pipe: PipeOptions, total = 100 * MB) {
  const p = sessionPair({ pipe });
  p.host.connect();
  await until(() => p.host.ready);
  const stream = p.host.open({ op: 'files.get', path: 'big' });
  await until(() => p.openedOnGuest.length === 1);
  const responder = p.openedOnGuest[0] as Stream & GuestStream;

  let received = 0;
  let held = 0;
  let maxHeld = 0;
  let maxQueued = 0;
  let consumeScheduled = false;
  stream.on('data', (_, chunk) => {
    received += chunk.length;
    held += chunk.length;
    maxHeld = Math.max(maxHeld, held);
    if (consumeScheduled) return;
    consumeScheduled = true;
    setImmediate(() => {
      consumeScheduled = false;
      const n = held;
      held = 0;
      stream.consumed(Channel.Output, n);
    });
  });

  const chunk = Buffer.alloc(WRITE, 0xab);
  const started = performance.now();
  const cpu = process.cpuUsage();
  const inFlight: Promise<void>[] = [];
  for (let sent = 0; sent < total; sent += WRITE) {
    inFlight.push(responder.write(Channel.Output, chunk));
    maxQueued = Math.max(maxQueued, responder.queued(Channel.Output));
    if (inFlight.length >= AHEAD) await inFlight.shift();
  }
  await Promise.all(inFlight);
  responder.finish({ entries: 1, bytes: total });
  await stream.result();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  const rate = `${(total / MB / seconds).toFixed(0)} MB/s wall, ${(total / MB / cpuSeconds).toFixed(0)} MB per CPU second`;
  return { received, maxHeld, maxQueued, maxInFlight: p.toHost.maxInFlight, rate };
}

describe('100 MB transfer', () => {
  beforeAll(() => transfer({}, 32 * MB)); // JIT warm-up, so the figures are the engine's steady state
  it('completes with bounded memory through an async transport with back-pressure', async () => {
    const highWater = 1024 * 1024;
    const r = await transfer({ async: true, highWater });
    console.log(`guest protocol engine, 100 MB in 64 KiB writes over an async in-memory pipe: ${r.rate}`);
    expect(r.received).toBe(100 * MB);
    expect(r.maxQueued).toBeLessThanOrEqual(AHEAD * WRITE); // the sender never queues more than the producer handed it
    expect(r.maxHeld).toBeLessThanOrEqual(INITIAL_WINDOW); // the receiver never holds more than the credit it granted
    expect(r.maxInFlight).toBeLessThanOrEqual(INITIAL_WINDOW + 4 * (MAX_PAYLOAD + 12));
  });

  it('is not the bottleneck: a synchronous transport', async () => {
    const r = await transfer({});
    console.log(`guest protocol engine, 100 MB in 64 KiB writes over a synchronous pipe: ${r.rate}`);
    expect(r.received).toBe(100 * MB);
    expect(r.maxHeld).toBeLessThanOrEqual(INITIAL_WINDOW);
  });
});
