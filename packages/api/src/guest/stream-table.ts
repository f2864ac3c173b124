// The open streams of one session: ids (host odd, guest even), the peer-opened limit, and the streams' link out.
import { BASE_PAYLOAD, FrameKind, type Frame, type GuestError, type OpenRequest, type Role, type SessionOptions } from './contract.js';
import { GuestProtocolError, guestError, messageOf } from './errors.js';
import { encodeJsonFrame, parseJsonPayload } from './frame.js';
import { rethrowLater } from './listeners.js';
import type { Outbox } from './outbox.js';
import { GuestStream, type Outcome, type StreamLink } from './stream.js';

export type PayloadCheck = NonNullable<SessionOptions['checkPayload']>;

export class StreamTable implements StreamLink {
  readonly window: number;
  /** The largest Data payload the peer takes (its Hello's maxPayload); set when the session becomes ready. */
  dataPayload = BASE_PAYLOAD;
  readonly zeroCopy: boolean;
  readonly #streams = new Map<number, GuestStream>();
  readonly #outbox: Outbox;
  readonly #checkPayload: PayloadCheck | undefined;
  readonly #firstId: number;
  readonly #maxPeerStreams: number;
  #nextId: number;
  #lastPeerId = 0;
  #peerStreams = 0;

  constructor(role: Role, outbox: Outbox, limits: { window: number; maxPeerStreams: number; zeroCopy?: boolean }, checkPayload?: PayloadCheck) {
    this.window = limits.window;
    this.zeroCopy = limits.zeroCopy ?? false;
    this.#outbox = outbox;
    this.#checkPayload = checkPayload;
    this.#firstId = role === 'host' ? 1 : 2;
    this.#nextId = this.#firstId;
    this.#maxPeerStreams = limits.maxPeerStreams;
  }

  get size(): number {
    return this.#streams.size;
  }

  get blocked(): boolean {
    return this.#outbox.blocked;
  }

  get(id: number): GuestStream | undefined {
    return this.#streams.get(id);
  }

  /** Opens our next stream (the caller checked that the session is ready). */
  open(request: OpenRequest): GuestStream {
    const id = this.#nextId;
    if (id > 0xffffffff) throw new GuestProtocolError('busy', 'stream ids are used up: reconnect');
    const frame = encodeJsonFrame(FrameKind.Open, id, request);
    const stream = new GuestStream(this, id, request, true);
    this.#streams.set(id, stream);
    this.#nextId = id + 2;
    this.transmit(frame);
    return stream;
  }

  /** A peer's Open: refused with Reset (wrong parity, reused id, over the limit, bad JSON), else handed to onOpen. */
  accept(frame: Frame, onOpen: SessionOptions['onOpen']): void {
    const id = frame.stream;
    const refusal = this.#admit(id);
    if (refusal) return this.#refuse(id, refusal);
    const parsed = parseJsonPayload(frame.payload);
    if (!parsed.ok) return this.#refuse(id, guestError('protocol_error', `Open: ${parsed.reason}`));
    const stream = new GuestStream(this, id, parsed.value, false);
    this.#streams.set(id, stream);
    this.#peerStreams += 1;
    try {
      onOpen(stream, parsed.value);
    } catch (error) {
      stream.reset(guestError('internal', messageOf(error)));
      rethrowLater(error);
    }
  }

  /** Settles every stream with `outcome` and starts the id spaces over (a new session). */
  failAll(outcome: Outcome): void {
    for (const stream of [...this.#streams.values()]) stream.settle(outcome);
    this.#streams.clear();
    this.#nextId = this.#firstId;
    this.#lastPeerId = 0;
    this.#peerStreams = 0;
  }

  transmit(frame: Buffer, written?: () => void): void {
    this.#outbox.transmit(frame, written);
  }

  schedule(stream: GuestStream): void {
    this.#outbox.schedule(stream);
  }

  release(stream: GuestStream): void {
    this.#outbox.forget(stream);
    if (this.#streams.get(stream.id) !== stream) return;
    this.#streams.delete(stream.id);
    if (!stream.local) this.#peerStreams -= 1;
  }

  check(kind: 'control' | 'finish', stream: GuestStream, value: unknown): string | undefined {
    return runCheck(this.#checkPayload, kind, stream, value);
  }

  #refuse(id: number, error: GuestError): void {
    this.transmit(encodeJsonFrame(FrameKind.Reset, id, error));
    // After our Reset the id is free on both ends: a stream still using it here is over too.
    this.#streams.get(id)?.settle({ error });
  }

  #admit(id: number): GuestError | undefined {
    if (id % 2 === this.#firstId % 2) return guestError('protocol_error', `stream id ${id} has this end's parity`);
    if (id <= this.#lastPeerId) return guestError('protocol_error', `stream id ${id} reused`);
    this.#lastPeerId = id;
    if (this.#peerStreams >= this.#maxPeerStreams) return guestError('busy', `${this.#maxPeerStreams} peer-opened streams are open`);
    return undefined;
  }
}

/** Runs the checkPayload hook: the thrown message, or undefined when the value passes. */
export function runCheck(check: PayloadCheck | undefined, kind: 'control' | 'finish' | 'hello', stream: GuestStream | undefined, value: unknown): string | undefined {
  try {
    check?.(kind, stream, value);
    return undefined;
  } catch (error) {
    return messageOf(error) || 'rejected by checkPayload';
  }
}
