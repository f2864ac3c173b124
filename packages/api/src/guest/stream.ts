// One multiplexed stream: per-channel credit both ways, ordered Close/Finish, one `done`.
import { FrameKind, HEADER_SIZE, type Channel, type Frame, type GuestError, type Stream, type StreamEvents } from './contract.js';
import { Inbound } from './credit.js';
import { GuestProtocolError, guestError, toGuestError } from './errors.js';
import { decodeWindow, encodeFrame, encodeJsonFrame, encodeWindow, parseJsonPayload, writeHeader } from './frame.js';
import { Listeners } from './listeners.js';
import { SendQueue } from './send-queue.js';

export type Outcome = { result: unknown } | { error: GuestError };

/** What a stream needs from its session. */
export interface StreamLink {
  /** The transport asked us to wait for drain(). */
  readonly blocked: boolean;
  readonly window: number;
  /** The largest Data payload to send. */
  readonly dataPayload: number;
  /** Data goes out from the writers' buffers, released by `written` (else it is copied into the frame). */
  readonly zeroCopy: boolean;
  transmit(frame: Buffer, written?: () => void): void;
  /** The stream has Data, Close or Finish to send. */
  schedule(stream: GuestStream): void;
  /** The stream is over: forget its id. */
  release(stream: GuestStream): void;
  /** The checkPayload hook: an error message, or undefined when the value is fine. */
  check(kind: 'control' | 'finish', stream: GuestStream, value: unknown): string | undefined;
}

function ignore(): void {}
function isChannel(value: number): value is Channel {
  return value === 0 || value === 1 || value === 2;
}
function rejected(error: Error): Promise<never> {
  const promise = Promise.reject(error);
  promise.catch(ignore); // `done` reports it too: a dropped promise must not crash the process
  return promise;
}

export class GuestStream implements Stream {
  readonly id: number;
  readonly request: unknown;
  /** We opened it; else the peer did and we respond. */
  readonly local: boolean;
  readonly #link: StreamLink;
  readonly #events = new Listeners<StreamEvents>();
  readonly #out: SendQueue[];
  readonly #in: Inbound;
  #finishing: { result: unknown; frame: Buffer } | undefined;
  #outcome: Outcome | undefined;
  readonly #result: Promise<unknown>;
  #settleResult: (outcome: Outcome) => void = ignore;

  constructor(link: StreamLink, id: number, request: unknown, local: boolean) {
    this.#link = link;
    this.id = id;
    this.request = request;
    this.local = local;
    this.#out = [new SendQueue(link.window), new SendQueue(link.window), new SendQueue(link.window)];
    this.#in = new Inbound(link.window);
    this.#result = new Promise((resolve, reject) => {
      this.#settleResult = (o) => ('error' in o ? reject(GuestProtocolError.from(o.error)) : resolve(o.result));
    });
    this.#result.catch(ignore);
  }

  get finished(): boolean {
    return this.#outcome !== undefined;
  }

  /** Bytes queued on a channel and not yet handed to the transport (0: a write has gone out in order). */
  queued(channel: Channel): number {
    return this.#out[channel]?.queued ?? 0;
  }

  on<E extends keyof StreamEvents>(event: E, listener: StreamEvents[E]): this {
    return this.#listen(event, listener, false);
  }

  once<E extends keyof StreamEvents>(event: E, listener: StreamEvents[E]): this {
    return this.#listen(event, listener, true);
  }

  off<E extends keyof StreamEvents>(event: E, listener: StreamEvents[E]): this {
    this.#events.remove(event, listener);
    return this;
  }

  control(message: object): void {
    // Sent at once, ahead of writes still waiting for credit (a signal must pass blocked stdin): await write() where order matters.
    if (!this.#outcome) this.#link.transmit(encodeJsonFrame(FrameKind.Control, this.id, message));
  }

  write(channel: Channel, chunk: Buffer): Promise<void> {
    const queue = this.#out[channel];
    if (!queue || !isChannel(channel)) return rejected(new GuestProtocolError('invalid_argument', `no channel ${channel}`));
    if (this.#outcome) return rejected(this.#endedError());
    if (queue.closing || this.#finishing) return rejected(new GuestProtocolError('invalid_argument', `stream ${this.id}: write after end/finish`));
    if (chunk.length === 0) return Promise.resolve();
    const promise = queue.push(chunk);
    this.#link.schedule(this);
    return promise;
  }

  end(channel: Channel): void {
    const queue = this.#out[channel];
    if (!queue || !isChannel(channel)) throw new GuestProtocolError('invalid_argument', `no channel ${channel}`);
    if (this.#outcome || queue.closing) return;
    queue.closing = true;
    this.#link.schedule(this);
  }

  consumed(channel: Channel, bytes: number): void {
    const grant = this.#outcome || !isChannel(channel) ? 0 : this.#in.consume(channel, bytes);
    if (grant > 0) this.#sendWindow(channel, grant);
  }

  #sendWindow(channel: Channel, bytes: number): void {
    this.#link.transmit(encodeFrame({ kind: FrameKind.Window, flags: channel, stream: this.id, payload: encodeWindow(bytes) }));
  }

  sunk(channel: Channel, bytes: number, returned = 0): void {
    if (this.#outcome || !isChannel(channel) || bytes <= 0) return;
    const error = this.#in.data(channel, bytes, returned);
    if (error) return this.reset(error);
    this.consumed(channel, bytes - returned);
  }

  grant(channel: Channel, bytes: number): void {
    if (this.#outcome || !isChannel(channel) || !Number.isInteger(bytes) || bytes <= 0) return;
    this.#in.extend(channel, bytes);
    this.#sendWindow(channel, bytes);
  }

  lendCredit(channel: Channel): number {
    const queue = this.#out[channel];
    if (!queue || this.#outcome || queue.queued > 0) return 0;
    const credit = queue.credit;
    queue.credit = 0;
    return credit;
  }

  repay(channel: Channel, bytes: number): void {
    const queue = this.#out[channel];
    if (!queue || bytes <= 0) return;
    queue.credit += bytes;
    if (queue.queued > 0) this.#link.schedule(this);
  }

  finish(result?: object): void {
    if (this.local) throw new GuestProtocolError('invalid_argument', `stream ${this.id}: only the responder finishes a stream`);
    if (this.#outcome || this.#finishing) return;
    this.#finishing = { result, frame: encodeJsonFrame(FrameKind.Finish, this.id, result) };
    this.#link.schedule(this);
  }

  reset(error: GuestError): void {
    if (this.#outcome) return;
    const bounded = toGuestError(error);
    this.#link.transmit(encodeJsonFrame(FrameKind.Reset, this.id, bounded));
    this.settle({ error: bounded });
  }

  result(): Promise<unknown> {
    return this.#result;
  }

  /** Sends what credit and the transport allow (at most one Data frame per channel); true if more can go at once. */
  flush(): boolean {
    let more = false;
    for (let ch = 0; ch < this.#out.length; ch++) {
      const queue = this.#out[ch] as SendQueue;
      const n = this.#link.blocked ? 0 : queue.sendable(this.#link.dataPayload);
      if (n > 0) {
        this.#sendData(queue, ch, n);
        more ||= queue.sendable(1) > 0;
      }
      if (!this.#outcome && queue.closing && !queue.closed && queue.queued === 0) {
        queue.closed = true;
        this.#link.transmit(encodeFrame({ kind: FrameKind.Close, flags: ch, stream: this.id }));
      }
      if (this.#outcome) return false; // the transport's synchronous peer ended the stream meanwhile
    }
    const finishing = this.#finishing;
    if (finishing && this.#out.every((q) => q.queued === 0 && q.closing === q.closed)) {
      this.#link.transmit(finishing.frame);
      this.settle({ result: finishing.result });
      return false;
    }
    return this.#link.blocked ? this.#out.some((q) => q.sendable(1) > 0) : more;
  }

  /** One Data frame of `n` queued bytes: header then the writers' own bytes (no copy), or one copied frame. */
  #sendData(queue: SendQueue, ch: number, n: number): void {
    if (this.#link.zeroCopy) {
      const header = Buffer.allocUnsafe(HEADER_SIZE);
      writeHeader(header, FrameKind.Data, ch, this.id, n);
      const { slices, completed } = queue.slice(n);
      this.#link.transmit(header);
      const last = slices.length - 1;
      // A write resolves when its last byte is out: then its buffer may be reused.
      slices.forEach((s, i) => this.#link.transmit(s, i === last && completed.length > 0 ? () => completed.forEach((r) => r()) : undefined));
      return;
    }
    const frame = Buffer.allocUnsafe(HEADER_SIZE + n);
    writeHeader(frame, FrameKind.Data, ch, this.id, n);
    const completed = queue.take(frame, HEADER_SIZE, n);
    this.#link.transmit(frame);
    for (const resolve of completed) resolve();
  }

  /** A frame from the peer for this stream (Open is handled by the session). */
  receive(frame: Frame): void {
    const { kind, flags: ch, payload } = frame;
    if (kind === FrameKind.Reset) {
      const parsed = parseJsonPayload(payload);
      return this.settle({ error: parsed.ok ? toGuestError(parsed.value) : guestError('protocol_error', `Reset: ${parsed.reason}`) });
    }
    if (kind === FrameKind.Control || kind === FrameKind.Finish) return this.#receiveJson(kind === FrameKind.Control ? 'control' : 'finish', payload);
    if (kind !== FrameKind.Data && kind !== FrameKind.Window && kind !== FrameKind.Close) return this.#fail(`unexpected frame kind ${kind}`);
    if (!isChannel(ch)) return this.#fail(`no channel ${ch}`);
    if (kind === FrameKind.Close) {
      if (this.#in.close(ch)) this.#events.emit('end', ch);
    } else if (kind === FrameKind.Window) {
      const grant = decodeWindow(payload);
      const queue = this.#out[ch] as SendQueue;
      if (grant === undefined) return this.#fail(`Window payload of ${payload.length} bytes`);
      queue.credit += grant;
      if (queue.queued > 0) this.#link.schedule(this);
      this.#events.emit('credit', ch, grant);
    } else {
      const error = this.#in.data(ch, payload.length);
      if (error) return this.reset(error);
      if (payload.length > 0) this.#events.emit('data', ch, payload);
    }
  }

  /** Ends the stream locally (no frame sent): rejects queued writes, settles result(), emits `done` once. */
  settle(outcome: Outcome): void {
    if (this.#outcome) return;
    this.#outcome = outcome;
    let error: GuestProtocolError | undefined; // made only when a write waits: an Error's stack is dear under TCG
    for (const queue of this.#out) if (queue.queued > 0) queue.fail((error ??= this.#endedError()));
    this.#link.release(this);
    this.#settleResult(outcome);
    this.#events.emit('done', outcome);
    this.#events.clear();
  }

  #receiveJson(kind: 'control' | 'finish', payload: Buffer): void {
    const parsed = parseJsonPayload(payload, kind === 'finish');
    if (!parsed.ok) return this.#fail(`${kind}: ${parsed.reason}`);
    const problem = this.#link.check(kind, this, parsed.value);
    if (problem !== undefined) return this.#fail(`${kind}: ${problem}`);
    if (kind === 'control') this.#events.emit('control', parsed.value);
    else this.settle({ result: parsed.value });
  }

  #fail(message: string): void {
    this.reset(guestError('protocol_error', `stream ${this.id}: ${message}`));
  }

  #endedError(): GuestProtocolError {
    const outcome = this.#outcome;
    if (outcome && 'error' in outcome) return GuestProtocolError.from(outcome.error);
    return new GuestProtocolError('cancelled', `stream ${this.id} is finished`);
  }

  #listen<E extends keyof StreamEvents>(event: E, listener: StreamEvents[E], once: boolean): this {
    const outcome = this.#outcome;
    // A stream that already ended still tells a late `done` listener, once and asynchronously like an event.
    if (outcome && event === 'done') queueMicrotask(() => (listener as StreamEvents['done'])(outcome));
    else if (!outcome) this.#events.add(event, listener, once);
    return this;
  }
}
