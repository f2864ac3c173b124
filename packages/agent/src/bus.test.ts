import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Channel } from '@lodge/api/guest';
import { BusClient, type BusMessage } from './bus-client.js';
import { startHarness, type Harness } from './test-harness.js';

let h: Harness;
let client: BusClient;
beforeAll(async () => {
  h = await startHarness({ drainTimeoutMs: 5000 });
  client = new BusClient(h.busSocket);
});
afterAll(async () => {
  client?.close();
  await h?.close();
});

function collector(): { messages: BusMessage[]; handler: (m: BusMessage) => void; waitFor: (n: number) => Promise<void> } {
  const messages: BusMessage[] = [];
  return {
    messages,
    handler: (m) => void messages.push(m),
    async waitFor(n) {
      for (let i = 0; i < 250 && messages.length < n; i++) await new Promise((r) => setTimeout(r, 20));
      expect(messages.length).toBe(n);
    },
  };
}

/** Publishes from the host into the guest; resolves with the Finish result. */
async function hostPublish(topic: string, data: Buffer, replyTo?: string): Promise<unknown> {
  const stream = h.host.open({ op: 'bus.publish', topic, size: data.length, ...(replyTo ? { replyTo } : {}) });
  if (data.length > 0) await stream.write(Channel.Output, data);
  stream.end(Channel.Output);
  return stream.result();
}

describe('bus', () => {
  it('delivers a guest publish to local subscribers and forwards it to the host', async () => {
    const c = collector();
    const sub = await client.subscribe('greet', c.handler);
    h.hostDelivered = 2;
    expect(await client.publish('greet', 'hi')).toBe(3);
    h.hostDelivered = 0;
    await c.waitFor(1);
    expect(c.messages[0]?.data.toString()).toBe('hi');
    expect(h.hostMessages.at(-1)).toMatchObject({ topic: 'greet', data: Buffer.from('hi') });
    sub.close();
  });

  it('delivers a host publish to local subscribers and finishes with the count', async () => {
    const c1 = collector();
    const c2 = collector();
    const s1 = await client.subscribe('from-host', c1.handler);
    const s2 = await client.subscribe('from-host', c2.handler);
    expect(await hostPublish('from-host', Buffer.from('payload'), 'answer.here')).toEqual({ delivered: 2 });
    await c1.waitFor(1);
    await c2.waitFor(1);
    expect(c1.messages[0]).toMatchObject({ topic: 'from-host', replyTo: 'answer.here' });
    expect(await hostPublish('nobody.listens', Buffer.alloc(0))).toEqual({ delivered: 0 });
    s1.close();
    s2.close();
  });

  it('keeps order per topic for many concurrent publishes', async () => {
    const c = collector();
    const sub = await client.subscribe('ordered', c.handler);
    await Promise.all(Array.from({ length: 200 }, (_, i) => client.publish('ordered', String(i))));
    await c.waitFor(200);
    expect(c.messages.map((m) => Number(m.data.toString()))).toEqual(Array.from({ length: 200 }, (_, i) => i));
    sub.close();
  });

  it('answers requests through serve, locally and from the host', async () => {
    const server = await client.serve('upper', (m) => m.data.toString().toUpperCase());
    const reply = await client.request('upper', 'shout', { timeoutMs: 2000 });
    expect(reply.data.toString()).toBe('SHOUT');
    // A host request: publish with replyTo; the guest's reply comes back as a bus.publish stream.
    // The local request's own messages reach the host too, maybe later than its reply here: look for the host's inbox.
    const hostReply = (): unknown => h.hostMessages.find((m) => m.topic === '_inbox.host1');
    await hostPublish('upper', Buffer.from('from host'), '_inbox.host1');
    for (let i = 0; i < 100 && !hostReply(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(hostReply()).toMatchObject({ topic: '_inbox.host1', data: Buffer.from('FROM HOST') });
    server.close();
    await expect(client.request('nobody-serves', 'x', { timeoutMs: 500 })).rejects.toThrow(/no subscriber/);
  });

  it('times out a request nobody answers', async () => {
    const sub = await client.subscribe('silent', () => undefined);
    await expect(client.request('silent', 'x', { timeoutMs: 200 })).rejects.toThrow(/no reply/);
    sub.close();
  });

  it('refuses bad topics and oversized messages', async () => {
    await expect(client.publish('bad topic', 'x')).rejects.toThrow(/topic must match/);
    await expect(client.publish('big', Buffer.alloc(1024 * 1024 + 1))).rejects.toThrow(/at most/);
  });

  it('a slow subscriber slows publishers instead of filling memory', async () => {
    const raw: Socket = connect(h.busSocket);
    await new Promise((r) => raw.once('connect', r));
    raw.write(`${JSON.stringify({ id: 1, op: 'subscribe', topic: 'slow' })}\n`);
    await new Promise((r) => raw.once('data', r));
    raw.pause();
    const size = 256 * 1024;
    let done = 0;
    const publishes = Array.from({ length: 40 }, () => client.publish('slow', Buffer.alloc(size, 97)).then((n) => (done++, n)));
    await new Promise((r) => setTimeout(r, 500));
    // Only what fits in the socket buffers got through; the rest waits for the reader.
    expect(done).toBeLessThan(15);
    let received = 0;
    raw.on('data', (chunk: Buffer) => (received += chunk.length));
    raw.resume();
    expect(await Promise.all(publishes)).toEqual(Array(40).fill(1));
    expect(received).toBeGreaterThan(40 * size);
    raw.destroy();
  });

  it('drops a subscriber that never reads', async () => {
    const h2 = await startHarness({ drainTimeoutMs: 300 });
    const c2 = new BusClient(h2.busSocket);
    try {
      const raw = connect(h2.busSocket);
      await new Promise((r) => raw.once('connect', r));
      raw.write(`${JSON.stringify({ id: 1, op: 'subscribe', topic: 'stuck' })}\n`);
      await new Promise((r) => raw.once('data', r));
      raw.pause();
      const closed = new Promise((r) => raw.once('close', r));
      const results = await Promise.all(Array.from({ length: 20 }, () => c2.publish('stuck', Buffer.alloc(256 * 1024))));
      expect(results.at(-1)).toBe(0);
      raw.resume();
      await closed;
    } finally {
      c2.close();
      await h2.close();
    }
  });

  it('serves info over the bus socket', async () => {
    const info = await client.info();
    expect(info.agent.pid).toBe(process.pid);
    expect(info.kernel.release).toBeTruthy();
  });
});
