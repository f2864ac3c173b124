import { describe, expect, it, vi } from 'vitest';
import { Channel, FrameKind, INITIAL_WINDOW, MAX_PAYLOAD, type OpenRequest, type Stream } from './contract.js';
import { encodeFrame, encodeJsonFrame } from './frame.js';
import { sessionPair, until } from './session-pair.js';
import type { GuestStream } from './stream.js';

const info = { op: 'info' } as const;
const exec: OpenRequest = { op: 'exec', argv: ['cat'], stdin: true };

/** A ready pair, the stream the host opened, and the guest's end of it. */
async function opened(options: Parameters<typeof sessionPair>[0] = {}) {
  const p = sessionPair(options);
  p.host.connect();
  await until(() => p.host.ready);
  const stream = p.host.open(exec);
  await until(() => p.openedOnGuest.length === 1);
  const responder = p.openedOnGuest[0] as Stream;
  return { ...p, stream, responder };
}

function collect(stream: Stream, consume = true) {
  const got: Record<number, Buffer[]> = { 0: [], 1: [], 2: [] };
  const ended: number[] = [];
  stream.on('data', (channel, chunk) => {
    got[channel]?.push(chunk);
    if (consume) stream.consumed(channel, chunk.length);
  });
  stream.on('end', (channel) => ended.push(channel));
  return { got, ended, bytes: (ch: number) => Buffer.concat(got[ch] ?? []) };
}

describe('streams', () => {
  it('open, control, data, Close and Finish', async () => {
    const p = sessionPair({ pipe: { async: true } });
    p.host.connect();
    await until(() => p.host.ready);
    const stream = p.host.open(info);
    expect(stream.id).toBe(1);
    expect(p.host.open(info).id).toBe(3);
    const controls: unknown[] = [];
    stream.on('control', (m) => controls.push(m));
    const out = collect(stream);
    await until(() => p.openedOnGuest.length === 2);
    const responder = p.openedOnGuest[0] as Stream;
    expect(responder.request).toEqual(info);
    responder.control({ type: 'started', pid: 7 });
    await responder.write(Channel.Output, Buffer.from('hello '));
    void responder.write(Channel.Output, Buffer.from('world'));
    responder.end(Channel.Output);
    responder.finish({ exitCode: 0 });
    await expect(stream.result()).resolves.toEqual({ exitCode: 0 });
    expect(controls).toEqual([{ type: 'started', pid: 7 }]);
    expect(out.bytes(1).toString()).toBe('hello world');
    expect(out.ended).toEqual([1]);
    expect(responder.finished && stream.finished).toBe(true);
    await expect(responder.result()).resolves.toEqual({ exitCode: 0 });
    await expect(responder.write(1, Buffer.from('late'))).rejects.toMatchObject({ code: 'cancelled' });
    expect(() => stream.finish()).toThrow(/responder/);
  });

  it('keeps the order per channel when channels 1 and 2 interleave', async () => {
    const { stream, responder } = await opened({ pipe: { async: true } });
    const out = collect(stream);
    const sent: Record<number, Buffer[]> = { 1: [], 2: [] };
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 400; i++) {
      const channel = i % 3 === 0 ? Channel.Error : Channel.Output;
      const chunk = Buffer.alloc(1 + ((i * 7919) % 9000), i & 0xff);
      sent[channel]?.push(chunk);
      writes.push(responder.write(channel, chunk));
    }
    responder.finish({});
    await Promise.all(writes);
    await stream.result();
    expect(out.bytes(1).equals(Buffer.concat(sent[1] ?? []))).toBe(true);
    expect(out.bytes(2).equals(Buffer.concat(sent[2] ?? []))).toBe(true);
  });

  it('stops a sender after INITIAL_WINDOW bytes unconsumed, and resumes it on consumed()', async () => {
    const { stream, responder } = await opened({ pipe: { async: true } });
    const out = collect(stream, false);
    const total = 4 * INITIAL_WINDOW;
    const written = responder.write(Channel.Output, Buffer.alloc(total, 1));
    await until(() => out.bytes(1).length === INITIAL_WINDOW);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(out.bytes(1).length).toBe(INITIAL_WINDOW);
    expect((responder as GuestStream).queued(Channel.Output)).toBe(total - INITIAL_WINDOW);
    expect(out.got[1]?.every((c) => c.length <= MAX_PAYLOAD)).toBe(true);
    stream.consumed(Channel.Output, INITIAL_WINDOW);
    await until(() => out.bytes(1).length === 2 * INITIAL_WINDOW);
    stream.on('data', (ch, chunk) => stream.consumed(ch, chunk.length));
    stream.consumed(Channel.Output, 2 * INITIAL_WINDOW); // only what was received counts
    await written;
    await until(() => out.bytes(1).length === total);
  });

  it('waits for drain() when the transport write returns false, small frames still go', async () => {
    const { stream, responder, toHost, guest } = await opened();
    const out = collect(stream);
    toHost.full = true;
    const hostWrite = vi.fn();
    stream.on('control', hostWrite);
    const done = responder.write(Channel.Output, Buffer.alloc(3 * MAX_PAYLOAD, 5));
    expect(out.bytes(1).length).toBe(MAX_PAYLOAD); // one frame, then write() said wait
    responder.control({ type: 'started', pid: 1 });
    expect(hostWrite).toHaveBeenCalledOnce();
    toHost.full = false;
    guest.drain();
    await done;
    expect(out.bytes(1).length).toBe(3 * MAX_PAYLOAD);
  });

  it('resets a stream with flow_control when the peer sends beyond its credit', async () => {
    const { stream, responder, guest } = await opened();
    const chunk = encodeFrame({ kind: FrameKind.Data, flags: Channel.Input, stream: stream.id, payload: Buffer.alloc(MAX_PAYLOAD) });
    for (let i = 0; i < INITIAL_WINDOW / MAX_PAYLOAD; i++) guest.receive(chunk);
    expect(responder.finished).toBe(false);
    guest.receive(encodeFrame({ kind: FrameKind.Data, flags: Channel.Input, stream: stream.id, payload: Buffer.alloc(1) }));
    await expect(responder.result()).rejects.toMatchObject({ code: 'flow_control' });
    await expect(stream.result()).rejects.toMatchObject({ code: 'flow_control' });
  });

  it('refuses peer streams beyond maxPeerStreams with busy', async () => {
    const p = sessionPair({ host: { maxPeerStreams: 2 } });
    p.host.connect();
    const publish = { op: 'bus.publish', topic: 't', size: 0 } as const;
    const streams = [p.guest.open(publish), p.guest.open(publish), p.guest.open(publish)];
    expect(streams.map((s) => s.id)).toEqual([2, 4, 6]);
    await expect(streams[2]?.result()).rejects.toMatchObject({ code: 'busy' });
    expect(p.openedOnHost).toHaveLength(2);
    (p.openedOnHost[0] as Stream).finish({ delivered: 1 });
    await expect(streams[0]?.result()).resolves.toEqual({ delivered: 1 });
    expect(p.guest.open(publish).id).toBe(8); // a slot is free again
    expect(p.openedOnHost).toHaveLength(3);
  });

  it('refuses an Open with the wrong parity or a reused id', () => {
    const p = sessionPair();
    p.host.connect();
    const resets: Buffer[] = [];
    p.toHost.tap = resets;
    p.guest.receive(encodeJsonFrame(FrameKind.Open, 2, info)); // even = a guest id
    p.guest.receive(encodeJsonFrame(FrameKind.Open, 5, info));
    p.guest.receive(encodeJsonFrame(FrameKind.Open, 3, info)); // lower than 5: reused
    p.guest.receive(encodeFrame({ kind: FrameKind.Open, stream: 7, payload: Buffer.from('{bad json') }));
    expect(p.openedOnGuest.map((s) => s.id)).toEqual([5]);
    expect(resets.map((b) => JSON.parse(b.subarray(12).toString()).code)).toEqual(['protocol_error', 'protocol_error', 'protocol_error']);
  });

  it('reset() cancels: both ends are done, queued writes reject', async () => {
    const { stream, responder } = await opened();
    const done = vi.fn();
    responder.on('done', done);
    const pending = responder.write(Channel.Output, Buffer.alloc(INITIAL_WINDOW + 10));
    stream.reset({ code: 'cancelled', message: 'user pressed ^C' });
    await expect(pending).rejects.toMatchObject({ code: 'cancelled', message: 'user pressed ^C' });
    await expect(stream.result()).rejects.toMatchObject({ code: 'cancelled' });
    expect(done).toHaveBeenCalledExactlyOnceWith({ error: { code: 'cancelled', message: 'user pressed ^C' } });
    stream.reset({ code: 'internal', message: 'again' }); // no-op once done
    const late = vi.fn();
    stream.on('done', late);
    await Promise.resolve();
    expect(late).toHaveBeenCalledOnce();
  });

  it("carries a Reset's shellStatus (126, 127) to the other end, and drops any other value", async () => {
    const a = await opened();
    a.responder.reset({ code: 'not_found', message: 'nope: not found', shellStatus: 127 });
    await expect(a.stream.result()).rejects.toMatchObject({ code: 'not_found', shellStatus: 127 });
    const b = await opened();
    b.host.receive(encodeJsonFrame(FrameKind.Reset, b.stream.id, { code: 'not_found', message: 'x', shellStatus: 3 }));
    const error = await b.stream.result().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'not_found', message: 'x', shellStatus: undefined });
  });

  it('resets with protocol_error on unparsable JSON from the peer', async () => {
    const { stream, responder, host } = await opened();
    host.receive(encodeFrame({ kind: FrameKind.Control, stream: stream.id, payload: Buffer.from('{') }));
    await expect(stream.result()).rejects.toMatchObject({ code: 'protocol_error' });
    await expect(responder.result()).rejects.toMatchObject({ code: 'protocol_error' });
    expect(host.ready).toBe(true);
  });

  it('checkPayload refusing a Finish fails the stream with protocol_error', async () => {
    const p = sessionPair({ host: { checkPayload: (kind, _, value) => {
      if (kind === 'finish' && (value as { ok?: unknown } | undefined)?.ok !== true) throw new Error('bad result');
    } } });
    p.host.connect();
    const a = p.host.open(info);
    const b = p.host.open(info);
    (p.openedOnGuest[0] as Stream).finish({ ok: false });
    (p.openedOnGuest[1] as Stream).finish({ ok: true });
    await expect(a.result()).rejects.toMatchObject({ code: 'protocol_error', message: expect.stringContaining('bad result') });
    await expect(b.result()).resolves.toEqual({ ok: true });
  });

  it('sends Finish only after the queued writes, once credit allows', async () => {
    const { stream, responder } = await opened();
    const out = collect(stream, false);
    void responder.write(Channel.Output, Buffer.alloc(INITIAL_WINDOW + 100));
    responder.end(Channel.Output);
    responder.finish({ n: 1 });
    expect(stream.finished).toBe(false);
    expect(out.ended).toEqual([]);
    stream.consumed(Channel.Output, INITIAL_WINDOW);
    await expect(stream.result()).resolves.toEqual({ n: 1 });
    expect(out.bytes(1).length).toBe(INITIAL_WINDOW + 100);
    expect(out.ended).toEqual([1]);
  });
});
