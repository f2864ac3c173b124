import { expect, it } from 'vitest';
import { BULK_EXTRA_WINDOW, Channel, FEATURE_PUT_READY, INITIAL_WINDOW, type Stream } from './contract.js';
import { sessionPair, until } from './session-pair.js';

// The Stream additions a data plane outside the session (lodge-port) uses: sunk, grant, lendCredit/repay, `credit`,
// and Hello features.

const put = { op: 'files.put', path: '/tmp/x' } as const;

async function opened(options: Parameters<typeof sessionPair>[0] = {}) {
  const p = sessionPair(options);
  p.host.connect();
  await until(() => p.host.ready && p.guest.ready);
  const stream = p.host.open(put);
  await until(() => p.openedOnGuest.length === 1);
  return { ...p, stream, responder: p.openedOnGuest[0] as Stream };
}

it('announces features in Hello and HelloAck; a peer without them has none', async () => {
  const p = sessionPair({ host: { features: [FEATURE_PUT_READY] }, guest: { features: [FEATURE_PUT_READY, 'x'] } });
  p.host.connect();
  await until(() => p.host.ready && p.guest.ready);
  expect(p.host.peer?.features).toEqual([FEATURE_PUT_READY, 'x']);
  expect(p.guest.peer?.features).toEqual([FEATURE_PUT_READY]);
  const plain = sessionPair();
  plain.host.connect();
  await until(() => plain.host.ready && plain.guest.ready);
  expect(plain.host.peer?.features).toBeUndefined();
});

it('sunk() accounts bytes taken off the wire like consumed Data: Window frames return the credit', async () => {
  const { stream, responder } = await opened();
  const credits: number[] = [];
  stream.on('credit', (channel, bytes) => channel === Channel.Input && credits.push(bytes));
  // The host's credit runs out after INITIAL_WINDOW; the bytes "went" elsewhere, the guest reports them sunk.
  const sent = stream.lendCredit(Channel.Input);
  expect(sent).toBe(INITIAL_WINDOW);
  expect(stream.lendCredit(Channel.Input)).toBe(0);
  responder.sunk(Channel.Input, INITIAL_WINDOW / 2);
  responder.sunk(Channel.Input, INITIAL_WINDOW / 2);
  await until(() => credits.reduce((a, b) => a + b, 0) === INITIAL_WINDOW);
  // Beyond the credit granted is a flow_control error, as Data would be.
  responder.sunk(Channel.Input, INITIAL_WINDOW + 1);
  await expect(responder.result()).rejects.toMatchObject({ code: 'flow_control' });
});

it('grant() gives the peer more credit at once; lent credit comes back with repay() and sends queued writes', async () => {
  const { stream, responder } = await opened();
  const grants: number[] = [];
  stream.on('credit', (channel, bytes) => grants.push(channel, bytes));
  responder.grant(Channel.Input, BULK_EXTRA_WINDOW);
  await until(() => grants.length === 2);
  expect(grants).toEqual([Channel.Input, BULK_EXTRA_WINDOW]);
  expect(stream.lendCredit(Channel.Input)).toBe(INITIAL_WINDOW + BULK_EXTRA_WINDOW);
  // With no credit left a write waits; repaying makes it go.
  let written = false;
  void stream.write(Channel.Input, Buffer.from('after')).then(() => (written = true));
  const data: Buffer[] = [];
  responder.on('data', (_ch, chunk) => data.push(chunk));
  await new Promise((r) => setTimeout(r, 10));
  expect(written).toBe(false);
  expect(stream.lendCredit(Channel.Input)).toBe(0); // nothing is lent while writes are queued
  stream.repay(Channel.Input, 5);
  await until(() => written && data.length === 1);
  expect(Buffer.concat(data).toString()).toBe('after');
});

it('sunk() with `returned`: credit lodge-port gave back itself is not returned again, and lets the peer send beyond our grant', async () => {
  const { stream, responder } = await opened();
  const credits: number[] = [];
  stream.on('credit', (channel, bytes) => channel === Channel.Input && credits.push(bytes));
  // The peer sent its INITIAL_WINDOW plus 3 MiB that the relay's own Windows allowed; the relay returned 3 MiB.
  const extra = 3 * 2 ** 20;
  responder.sunk(Channel.Input, INITIAL_WINDOW + extra, extra);
  await until(() => credits.length > 0);
  await new Promise((r) => setTimeout(r, 10));
  expect(credits).toEqual([INITIAL_WINDOW]); // only what the relay did not return
  // It may not claim to have returned more than it took, nor the peer send beyond both.
  responder.sunk(Channel.Input, 10, 11);
  await expect(responder.result()).rejects.toMatchObject({ code: 'flow_control' });
});
