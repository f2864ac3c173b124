import { describe, expect, it, vi } from 'vitest';
import { FrameKind, type Frame, type Hello, type Stream } from './contract.js';
import { encodeFrame, encodeJsonFrame } from './frame.js';
import { FrameParser } from './frame-parser.js';
import { createSession } from './session.js';
import { sessionPair, until } from './session-pair.js';

/** The frames in what a session wrote (the writer is already in sync: prefix a Hello to parse). */
function framesOf(chunks: Buffer[]): Frame[] {
  const frames: Frame[] = [];
  const parser = new FrameParser({ frame: (f) => frames.push(f) });
  parser.push(encodeJsonFrame(FrameKind.Hello, 0, {}));
  for (const c of chunks) parser.push(c);
  return frames.slice(1);
}

const info = { op: 'info' } as const;

describe('session handshake', () => {
  it('connects: Hello, HelloAck, both ready with the peer Hello', async () => {
    const readyHost: Hello[] = [];
    const readyGuest: Hello[] = [];
    const p = sessionPair({ host: { onReady: (h) => readyHost.push(h) }, guest: { onReady: (h) => readyGuest.push(h) }, pipe: { async: true } });
    expect(p.host.ready).toBe(false);
    p.host.connect();
    await until(() => p.host.ready && p.guest.ready);
    expect(readyHost).toHaveLength(1);
    expect(readyGuest).toHaveLength(1);
    expect(readyHost[0]).toMatchObject({ protocol: 1, role: 'guest', agent: { version: '1.2.3', pid: 42 } });
    expect(p.guest.peer).toMatchObject({ role: 'host' });
    expect(p.resets).toEqual({ host: [], guest: [] });
  });

  it('resends Hello until acknowledged', async () => {
    const p = sessionPair({ host: { helloIntervalMs: 5 } });
    p.toGuest.cut = true;
    p.host.connect();
    await new Promise((r) => setTimeout(r, 20));
    expect(p.host.ready).toBe(false);
    p.toGuest.cut = false;
    await vi.waitFor(() => expect(p.host.ready).toBe(true), { timeout: 2000, interval: 5 });
    p.host.close();
  });

  it('a Hello from the restarted peer fails every stream with channel_reset, then both are ready again', async () => {
    const p = sessionPair();
    p.host.connect();
    const stream = p.host.open(info);
    const done = vi.fn();
    stream.on('done', done);
    p.guest.connect(); // the agent restarted: a new session id
    expect(done).toHaveBeenCalledWith({ error: { code: 'channel_reset', message: 'the guest agent restarted while this was under way' } });
    await expect(stream.result()).rejects.toMatchObject({ code: 'channel_reset' });
    expect(p.resets.host).toEqual(['channel_reset']);
    expect(p.host.ready && p.guest.ready).toBe(true);
    expect(p.host.open(info).id).toBe(1); // ids start over in the new session
  });

  it('a Hello held from an attempt that never got in sync, delivered late, does not reset the session made after it', () => {
    const p = sessionPair();
    p.toHost.tap = [];
    p.toHost.cut = true;
    p.guest.connect(); // no host yet: virtio-serial holds this Hello until one connects
    const stale = p.toHost.tap[0] as Buffer;
    p.guest.disconnect('the host closed the port');
    p.toHost.cut = false;
    p.toGuest.cut = true;
    p.toGuest.tap = [];
    p.host.connect();
    const hostHello = p.toGuest.tap[0] as Buffer;
    p.host.receive(stale); // delivered first, in the burst after the host connected
    expect(p.host.ready).toBe(true);
    p.toGuest.cut = false;
    p.guest.connect(); // the agent sees the host and says Hello again
    p.guest.receive(hostHello);
    expect(p.host.ready && p.guest.ready).toBe(true);
    expect(p.resets.host).toEqual([]);
    const stream = p.host.open(info);
    expect(p.openedOnGuest).toHaveLength(1);
    expect(stream.finished).toBe(false);
  });

  it('a new transport after the session was in sync says Hello under a new id (the peer must see the restart)', () => {
    const p = sessionPair();
    p.toHost.tap = [];
    p.guest.connect();
    const first = p.toHost.tap.length;
    p.guest.disconnect('the host closed the port');
    p.guest.connect();
    const ids = framesOf(p.toHost.tap).filter((f) => f.kind === FrameKind.Hello).map((f) => (JSON.parse(f.payload.toString()) as Hello).session);
    expect(first).toBeGreaterThan(0);
    expect(new Set(ids).size).toBe(2);
  });

  it('a resent Hello of the same session (crossing our HelloAck) does not reset', () => {
    const p = sessionPair();
    p.toGuest.tap = [];
    p.host.connect();
    const helloBytes = p.toGuest.tap[0] as Buffer;
    const stream = p.host.open(info);
    p.guest.receive(helloBytes);
    expect(p.openedOnGuest[0]?.finished).toBe(false);
    expect(stream.finished).toBe(false);
    expect(p.resets.guest).toEqual([]);
  });

  it('answers another protocol version with Reset protocol_mismatch and stays not ready', () => {
    const written: Buffer[] = [];
    const resets: string[] = [];
    const host = createSession({ role: 'host', write: (b) => written.push(b) > 0, onOpen: () => {}, onReset: (e) => resets.push(e.code), helloIntervalMs: 0 });
    host.receive(encodeJsonFrame(FrameKind.Hello, 0, { protocol: 2, role: 'guest', session: 'abcdefabcdefabcd' }));
    expect(host.ready).toBe(false);
    expect(resets).toEqual(['protocol_mismatch']);
    const [reset] = framesOf(written);
    expect(reset).toMatchObject({ kind: FrameKind.Reset, stream: 0 });
    expect(JSON.parse(String(reset?.payload))).toMatchObject({ code: 'protocol_mismatch' });
    // The end that said Hello stops on the answer, and tells its owner once.
    const guestResets: string[] = [];
    const guest = createSession({ role: 'guest', write: () => true, onOpen: () => {}, onReset: (e) => guestResets.push(e.code), helloIntervalMs: 0 });
    guest.connect();
    guest.receive(encodeJsonFrame(FrameKind.HelloAck, 0, { protocol: 1, role: 'host', session: '0000000000000000' }));
    guest.receive(reset?.payload ? encodeFrame(reset) : Buffer.alloc(0));
    expect(guest.ready).toBe(false);
    expect(guestResets).toEqual(['protocol_mismatch']);
  });

  it('a Hello refused by checkPayload is garbage and the session keeps hunting', () => {
    const garbage: string[] = [];
    const host = createSession({
      role: 'host', write: () => true, onOpen: () => {}, helloIntervalMs: 0,
      onGarbage: (_, reason) => garbage.push(reason),
      checkPayload: (kind) => {
        if (kind === 'hello') throw new Error('agent too old');
      },
    });
    host.receive(encodeJsonFrame(FrameKind.Hello, 0, { protocol: 1, role: 'guest', session: 'abcdefabcdefabcd' }));
    expect(host.ready).toBe(false);
    expect(garbage).toEqual([expect.stringContaining('agent too old')]);
    // Our own role echoed back (a loopback) is not a peer either.
    host.receive(encodeJsonFrame(FrameKind.Hello, 0, { protocol: 1, role: 'host', session: 'abcdefabcdefabcd' }));
    expect(garbage[1]).toMatch(/role host/);
  });

  it('a framing error in sync fails the streams, says Hello again and recovers', () => {
    const p = sessionPair();
    p.host.connect();
    const stream = p.host.open(info);
    p.guest.receive(Buffer.from('this is not a frame header'));
    expect(stream.finished).toBe(true);
    expect(p.resets.guest).toEqual(['channel_reset']);
    expect(p.resets.host).toEqual(['channel_reset']);
    expect(p.host.ready && p.guest.ready).toBe(true);
  });

  it('unparsable JSON on stream 0 resyncs', () => {
    const p = sessionPair();
    p.host.connect();
    p.guest.receive(encodeFrame({ kind: FrameKind.Reset, stream: 0, payload: Buffer.from('{nope') }));
    expect(p.resets).toEqual({ guest: ['channel_reset'], host: ['channel_reset'] });
    expect(p.host.ready && p.guest.ready).toBe(true);
  });

  it('disconnect() fails streams and pings; open() and ping() refuse until connected again', async () => {
    const p = sessionPair({ pipe: { async: true } });
    p.host.connect();
    await until(() => p.host.ready);
    const stream = p.host.open(info);
    const ping = p.host.ping(10_000);
    p.host.disconnect('socket closed');
    await expect(stream.result()).rejects.toMatchObject({ code: 'channel_reset', message: 'socket closed' });
    await expect(ping).rejects.toMatchObject({ code: 'channel_reset' });
    expect(() => p.host.open(info)).toThrow(expect.objectContaining({ code: 'channel_reset' }));
    await expect(p.host.ping(10)).rejects.toMatchObject({ code: 'channel_reset' });
    p.host.connect();
    await until(() => p.host.ready);
    p.host.close();
    expect(() => p.host.connect()).toThrow();
  });
});

describe('session ping', () => {
  it('resolves with the round trip, rejects with timeout when no Pong comes', async () => {
    const p = sessionPair({ pipe: { async: true } });
    p.host.connect();
    await until(() => p.host.ready);
    const ms = await p.guest.ping(1000);
    expect(ms).toBeGreaterThanOrEqual(0);
    p.toGuest.cut = true;
    await expect(p.host.ping(20)).rejects.toMatchObject({ code: 'timeout' });
  });
});

describe('session robustness', () => {
  it('drops frames for unknown streams silently', () => {
    const p = sessionPair();
    p.host.connect();
    const stream = p.host.open(info);
    for (const kind of [FrameKind.Data, FrameKind.Control, FrameKind.Window, FrameKind.Close, FrameKind.Finish, FrameKind.Reset]) {
      p.host.receive(encodeFrame({ kind, flags: 1, stream: 99, payload: Buffer.from('{}') }));
    }
    expect(stream.finished).toBe(false);
    expect(p.host.ready).toBe(true);
    expect(p.garbage.host).toEqual([]);
  });

  it('a throwing listener does not corrupt the session: the error is rethrown later', () => {
    const thrown: unknown[] = [];
    vi.stubGlobal('queueMicrotask', (task: () => void) => {
      try {
        task();
      } catch (error) {
        thrown.push(error);
      }
    });
    try {
      const p = sessionPair({ host: { onReady: () => { throw new Error('onReady bug'); } } });
      p.host.connect();
      const stream = p.host.open(info);
      const chunks: string[] = [];
      stream.on('data', (_, chunk) => {
        chunks.push(String(chunk));
        throw new Error('listener bug');
      });
      const responder = p.openedOnGuest[0] as Stream;
      void responder.write(1, Buffer.from('a'));
      void responder.write(1, Buffer.from('b'));
      responder.finish({ ok: true });
      expect(chunks).toEqual(['a', 'b']);
      expect(stream.finished).toBe(true);
      expect(thrown.map((e) => (e as Error).message)).toEqual(['onReady bug', 'listener bug', 'listener bug']);
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('a throwing transport disconnects the session', async () => {
    let fail = false;
    const p = sessionPair();
    const host = createSession({
      role: 'host', onOpen: () => {}, helloIntervalMs: 0,
      write: (bytes) => {
        if (fail) throw new Error('EPIPE');
        return p.toGuest.write(bytes);
      },
    });
    p.toHost.connect((chunk) => host.receive(chunk), () => host.drain());
    host.connect();
    expect(host.ready).toBe(true);
    fail = true;
    const stream = host.open(info);
    await expect(stream.result()).rejects.toMatchObject({ code: 'channel_reset', message: 'transport write failed: EPIPE' });
    expect(host.ready).toBe(false);
  });

  it('reports bytes dropped while hunting through onGarbage', () => {
    const p = sessionPair();
    p.toGuest.tap = [];
    p.host.connect();
    const guest = createSession({ role: 'guest', write: () => true, onOpen: () => {}, helloIntervalMs: 0, onGarbage: (n, why) => p.garbage.guest.push(`${n} ${why}`) });
    guest.receive(Buffer.concat([Buffer.from('boot noise\n'), p.toGuest.tap[0] as Buffer]));
    expect(guest.ready).toBe(true);
    expect(p.garbage.guest).toEqual(['11 no frame start']);
  });

  it('survives 500 rounds of random frames and garbage, then handshakes again', () => {
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const payloads = ['', '{', '{}', '[]', 'null', '{"code":"busy","message":"x"}', '{"op":"info"}', '{"protocol":1,"role":"host","session":"0123456789abcdef"}'];
    const p = sessionPair();
    p.host.connect();
    p.host.open(info);
    for (let i = 0; i < 500; i++) {
      const kind = 1 + next(12);
      const payload = next(5) === 0 ? Buffer.alloc(next(70_000) % 70_000, next(256)) : Buffer.from(payloads[next(payloads.length)] as string);
      const header = Buffer.alloc(12);
      header.writeUInt16BE(next(10) === 0 ? next(65536) : 0x4c47, 0);
      header[2] = kind;
      header[3] = next(4);
      header.writeUInt32BE(next(8), 4);
      header.writeUInt32BE(next(10) === 0 ? next(2 ** 31) : payload.length, 8);
      const bytes = Buffer.concat([header, payload]);
      for (let at = 0; at < bytes.length; ) {
        const size = 1 + next(40_000);
        expect(() => p.guest.receive(bytes.subarray(at, at + size))).not.toThrow();
        at += size;
      }
    }
    p.host.connect();
    expect(p.host.ready && p.guest.ready).toBe(true);
    const stream = p.host.open(info);
    (p.openedOnGuest.at(-1) as Stream).finish({ ok: 1 });
    return expect(stream.result()).resolves.toEqual({ ok: 1 });
  });
});
