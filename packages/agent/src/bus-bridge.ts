// Joins the guest bus to the host's: guest publishes go out as `bus.publish` streams, the host's come in.

import { Channel, MAX_GUEST_STREAMS, MAX_MESSAGE_BYTES, type Session, type Stream } from '@lodge/api/guest';
import { checkTopic, type Bus, type BusMessage } from './bus.js';
import { describe, logError } from './log.js';
import { OpError } from './op-error.js';
import { int, type Fields } from './validate.js';

/** Forwards guest publishes to the host, at most as many at once as the host accepts guest streams. */
export function connectBusToHost(bus: Bus, session: () => Session | undefined): void {
  let active = 0;
  const waiting: (() => void)[] = [];
  bus.setForwarder(async (message: BusMessage) => {
    const s = session();
    if (!s?.ready) return 0;
    if (active >= MAX_GUEST_STREAMS) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await forward(s, message);
    } catch (error) {
      logError(`bus: forwarding ${message.topic} to the host failed: ${describe(error)}`);
      return 0;
    } finally {
      active--;
      waiting.shift()?.();
    }
  });
}

async function forward(session: Session, message: BusMessage): Promise<number> {
  const stream = session.open({
    op: 'bus.publish',
    topic: message.topic,
    size: message.data.length,
    ...(message.replyTo !== undefined ? { replyTo: message.replyTo } : {}),
  });
  stream.on('data', (channel, chunk) => stream.consumed(channel, chunk.length));
  const result = stream.result();
  result.catch(() => undefined); // awaited below; a reset while writing must not be an unhandled rejection
  if (message.data.length > 0) await stream.write(Channel.Output, message.data);
  stream.end(Channel.Output);
  const delivered = ((await result) as { delivered?: unknown } | null)?.delivered;
  return typeof delivered === 'number' && Number.isInteger(delivered) && delivered >= 0 ? delivered : 0;
}

/** A `bus.publish` stream from the host: collect the body, deliver locally, Finish once subscribers took it. */
export function runHostPublish(stream: Stream, fields: Fields, bus: Bus): Promise<void> {
  const topic = checkTopic(fields.topic);
  const replyTo = fields.replyTo === undefined ? undefined : checkTopic(fields.replyTo, 'replyTo');
  const size = int(fields, 'size', { min: 0, max: MAX_MESSAGE_BYTES }) as number;
  const body = Buffer.allocUnsafe(size);
  let received = 0;
  return new Promise<void>((resolve, reject) => {
    stream.on('data', (channel, chunk) => {
      stream.consumed(channel, chunk.length);
      if (channel !== Channel.Output) return;
      if (received + chunk.length > size) {
        reject(new OpError('invalid_argument', `bus.publish ${topic}: more than the announced ${size} bytes`));
        return;
      }
      chunk.copy(body, received);
      received += chunk.length;
    });
    stream.on('end', (channel) => {
      if (channel !== Channel.Output) return;
      if (received !== size) {
        reject(new OpError('invalid_argument', `bus.publish ${topic}: ${received} of ${size} bytes`));
        return;
      }
      bus.publishFromHost({ topic, data: body, ...(replyTo !== undefined ? { replyTo } : {}) }).then((delivered) => {
        if (!stream.finished) stream.finish({ delivered });
        resolve();
      }, reject);
    });
    stream.on('done', () => resolve());
  });
}
