import { expect, it } from 'vitest';
import { BASE_PAYLOAD, Channel, FrameKind, MAX_PAYLOAD, type Frame, type Stream } from './contract.js';
import { FrameParser } from './frame-parser.js';
import { readHello } from './handshake.js';
import { sessionPair, until } from './session-pair.js';

/** The Data payload sizes in what one end wrote (parsed back from the tapped bytes). */
function dataSizes(chunks: Buffer[]): number[] {
  const sizes: number[] = [];
  const parser = new FrameParser({ frame: (f: Frame) => void (f.kind === FrameKind.Data && sizes.push(f.payload.length)) });
  for (const c of chunks) parser.push(c);
  return sizes;
}

async function bulk(options: Parameters<typeof sessionPair>[0]) {
  const p = sessionPair(options);
  p.toGuest.tap = [];
  p.toHost.tap = [];
  p.host.connect();
  await until(() => p.host.ready && p.guest.ready);
  const stream = p.host.open({ op: 'exec', argv: ['cat'], stdin: true });
  await until(() => p.openedOnGuest.length === 1);
  const responder = p.openedOnGuest[0] as Stream;
  stream.on('data', (ch, c) => stream.consumed(ch, c.length));
  responder.on('data', (ch, c) => responder.consumed(ch, c.length));
  await Promise.all([stream.write(Channel.Input, Buffer.alloc(MAX_PAYLOAD * 2, 1)), responder.write(Channel.Output, Buffer.alloc(MAX_PAYLOAD * 2, 2))]);
  return { up: dataSizes(p.toGuest.tap), down: dataSizes(p.toHost.tap) };
}

it('sizes Data frames to what the receiver announced in its Hello', async () => {
  const both = await bulk({ guest: { maxPayload: BASE_PAYLOAD } });
  expect(Math.max(...both.up)).toBe(BASE_PAYLOAD); // the guest asked for 64 KiB frames
  expect(Math.max(...both.down)).toBe(MAX_PAYLOAD); // the host takes 256 KiB
});

it('sends an older peer (no maxPayload in its Hello) frames it accepts, and clamps what a peer announces', () => {
  const old = readHello({ protocol: 1, role: 'guest', session: '0123456789abcdef' }, 'host');
  expect(typeof old !== 'string' && old.maxPayload).toBe(undefined);
  const huge = readHello({ protocol: 1, role: 'guest', session: '0123456789abcdef', maxPayload: 2 ** 31 }, 'host');
  expect(typeof huge !== 'string' && huge.maxPayload).toBe(MAX_PAYLOAD);
  const tiny = readHello({ protocol: 1, role: 'guest', session: '0123456789abcdef', maxPayload: 10 }, 'host');
  expect(typeof tiny !== 'string' && tiny.maxPayload).toBe(BASE_PAYLOAD);
});

it('without a copy, a write resolves only once the transport wrote its bytes', async () => {
  const pending: (() => void)[] = [];
  let toHost: (b: Buffer) => boolean = () => true;
  // The guest's transport holds the callbacks back, as a writer would until its writev returns.
  const session = sessionPair({ guest: { writeCallbacks: true, write: (b, written) => (written && pending.push(written), toHost(b)) } });
  toHost = session.toHost.write;
  session.host.connect();
  await until(() => session.host.ready && session.guest.ready);
  const stream = session.host.open({ op: 'info' });
  await until(() => session.openedOnGuest.length === 1);
  const responder = session.openedOnGuest[0] as Stream;
  const got: Buffer[] = [];
  stream.on('data', (_ch, c) => got.push(Buffer.from(c)));
  const chunk = Buffer.alloc(1000, 7);
  let resolved = false;
  const write = responder.write(Channel.Output, chunk).then(() => (resolved = true));
  await until(() => got.length === 1);
  expect(got[0]?.equals(chunk)).toBe(true);
  expect(got[0]?.length).toBe(1000);
  await new Promise((r) => setImmediate(r));
  expect(resolved).toBe(false); // still the transport's: the caller must not reuse it yet
  for (const w of pending.splice(0)) w();
  await write;
  expect(resolved).toBe(true);
});
