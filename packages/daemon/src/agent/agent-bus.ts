import { LodgeError } from '@lodge/api';
import { Channel, MAX_MESSAGE_BYTES, type PublishRequest, type PublishResult, type Stream } from '@lodge/api/guest';
import type { BusDelivery } from '../ports/guest-channel.js';
import type { StreamOpener } from './preferred-link.js';
import { guestFailure } from './guest-failure.js';

const noop = (): void => undefined;

/** Both directions of the message bus over one agent link; publishes on a topic go one at a time, so order holds. */
export class AgentBus {
  private readonly tails = new Map<string, Promise<unknown>>();
  private handler: ((message: BusDelivery) => Promise<number>) | undefined;

  constructor(private readonly link: StreamOpener) {}

  publish(message: BusDelivery): Promise<{ delivered: number }> {
    const prev = this.tails.get(message.topic) ?? Promise.resolve();
    const run = prev.then(() => this.send(message));
    const tail = run.catch(noop);
    this.tails.set(message.topic, tail);
    void tail.then(() => this.tails.get(message.topic) === tail && this.tails.delete(message.topic));
    return run;
  }

  onPublish(handler: (message: BusDelivery) => Promise<number>): void {
    this.handler = handler;
  }

  /** A publish the guest opened: exactly `size` body bytes on channel 1, handed on, then Finish with the count. */
  receive(stream: Stream, request: PublishRequest): void {
    const refuse = (message: string): void => void (!stream.finished && stream.reset({ code: 'protocol_error', message }));
    if (request.size > MAX_MESSAGE_BYTES) return refuse(`message of ${request.size} bytes is over ${MAX_MESSAGE_BYTES}`);
    const chunks: Buffer[] = [];
    let got = 0;
    stream.on('data', (channel, chunk) => {
      if (channel !== Channel.Output) return refuse(`message data on channel ${channel}`);
      if (got + chunk.length > request.size) return refuse(`message body longer than its size ${request.size}`);
      chunks.push(chunk);
      got += chunk.length;
      stream.consumed(channel, chunk.length); // bounded by size ≤ MAX_MESSAGE_BYTES, so taking it all is safe
    });
    stream.on('end', (channel) => {
      if (channel !== Channel.Output) return;
      if (got !== request.size) return refuse(`message body of ${got} bytes, announced ${request.size}`);
      const body = Buffer.concat(chunks, got);
      const deliver = this.handler ?? (async () => 0);
      deliver({ topic: request.topic, replyTo: request.replyTo, body }).then(
        (delivered) => !stream.finished && stream.finish({ delivered }),
        (err: unknown) => !stream.finished && stream.reset({ code: 'internal', message: (err as Error).message }),
      );
    });
  }

  private async send(message: BusDelivery): Promise<{ delivered: number }> {
    if (message.body.length > MAX_MESSAGE_BYTES) {
      throw new LodgeError('invalid_argument', `a message is at most ${MAX_MESSAGE_BYTES} bytes, this one is ${message.body.length}`);
    }
    const stream = this.link.open({ op: 'bus.publish', topic: message.topic, replyTo: message.replyTo, size: message.body.length });
    const result = stream.result();
    result.catch(noop);
    try {
      await stream.write(Channel.Output, message.body);
      stream.end(Channel.Output);
      return (await result) as PublishResult;
    } catch (err) {
      if (stream.finished) await result.then(noop, (e: unknown) => Promise.reject(guestFailure(e, `publish to ${message.topic}`)));
      throw guestFailure(err, `publish to ${message.topic}`);
    }
  }
}
