// The session engine shared by the daemon (host) and the agent (guest): handshake, stream table, send pump.
import {
  BASE_PAYLOAD, FrameKind, HEADER_SIZE, INITIAL_WINDOW, MAX_GUEST_STREAMS, PROTOCOL_VERSION,
  type Frame, type GuestError, type Hello, type OpenRequest, type Session, type SessionOptions, type Stream,
} from './contract.js';
import { GuestProtocolError, guestError, messageOf, toGuestError } from './errors.js';
import { encodeFrame, encodeJsonFrame, parseJsonPayload } from './frame.js';
import { FrameParser } from './frame-parser.js';
import { Handshake } from './handshake.js';
import { rethrowLater } from './listeners.js';
import { Outbox } from './outbox.js';
import { Pings } from './pings.js';
import { StreamTable, runCheck } from './stream-table.js';

/** The agent serves the host's streams: a far higher limit than the host's for guest-opened ones. */
const GUEST_ROLE_MAX_PEER_STREAMS = 256;
const MAX_PING_PAYLOAD = 64;

export function createSession(options: SessionOptions): Session {
  return new GuestSession(options);
}

class GuestSession implements Session {
  readonly #options: SessionOptions;
  readonly #parser: FrameParser;
  readonly #handshake: Handshake;
  readonly #pings = new Pings();
  readonly #streams: StreamTable;
  readonly #outbox: Outbox;
  #ready = false;
  /** The session became ready under our current session id (so the peer may hold state under it). */
  #usedId = false;
  #peer: Hello | undefined;
  #mismatched = false;
  #closed = false;
  /** Bumped by connect(): a failed write of an older transport must not disconnect the new one. */
  #generation = 0;

  constructor(options: SessionOptions) {
    this.#options = options;
    const window = options.initialWindow ?? INITIAL_WINDOW;
    if (!Number.isInteger(window) || window < 1 || window > 0xffffffff) throw new GuestProtocolError('invalid_argument', `initialWindow ${window}`);
    const maxPeerStreams = options.maxPeerStreams ?? (options.role === 'host' ? MAX_GUEST_STREAMS : GUEST_ROLE_MAX_PEER_STREAMS);
    this.#outbox = new Outbox(options.write, (error) => this.#writeFailed(error));
    this.#streams = new StreamTable(options.role, this.#outbox, { window, maxPeerStreams, zeroCopy: options.writeCallbacks === true }, options.checkPayload);
    this.#handshake = new Handshake(options.role, options.agent, options.helloIntervalMs ?? 500, (frame) => this.#outbox.transmit(frame), options.maxPayload, options.features);
    this.#parser = new FrameParser({
      frame: (frame, hunted) => this.#guard(() => this.#onFrame(frame, hunted)),
      garbage: (bytes, reason) => this.#guard(() => options.onGarbage?.(bytes, reason)),
      error: (reason) => this.#guard(() => this.#resync(reason)),
    }, { splitData: true }); // a Data frame split across reads goes on in pieces, not as a copy (streams take any chunking)
  }

  get ready(): boolean {
    return this.#ready;
  }

  get peer(): Hello | undefined {
    return this.#peer;
  }

  get blocked(): boolean {
    return this.#outbox.blocked;
  }

  receive(chunk: Buffer): void {
    if (!this.#closed) this.#parser.push(chunk);
  }

  drain(): void {
    this.#outbox.drain();
  }

  connect(): void {
    if (this.#closed) throw new GuestProtocolError('channel_reset', 'the guest session is closed');
    this.#generation += 1;
    this.#outbox.reset();
    this.#parser.resync();
    this.#reset(guestError('channel_reset', 'reconnecting'));
    // A new transport: the old id is kept if it never got in sync, so a stale Hello of it is not a restart.
    const keepId = !this.#usedId;
    this.#usedId = false;
    this.#handshake.start(keepId);
  }

  disconnect(reason: string): void {
    this.#handshake.stop();
    this.#parser.resync();
    this.#reset(guestError('channel_reset', reason));
  }

  open(request: OpenRequest): Stream {
    if (this.#closed || !this.#ready) throw new GuestProtocolError('channel_reset', 'the guest session is not ready');
    return this.#streams.open(request);
  }

  ping(timeoutMs: number): Promise<number> {
    if (this.#closed || !this.#ready) return Promise.reject(new GuestProtocolError('channel_reset', 'the guest session is not ready'));
    const { payload, promise } = this.#pings.start(timeoutMs);
    this.#outbox.transmit(encodeFrame({ kind: FrameKind.Ping, stream: 0, payload }));
    return promise;
  }

  close(): void {
    if (this.#closed) return;
    this.disconnect('the guest session is closed');
    this.#closed = true;
    this.#outbox.closed = true;
  }

  #onFrame(frame: Frame, hunted: boolean): void {
    const { kind, stream: id } = frame;
    if (kind === FrameKind.Hello || kind === FrameKind.HelloAck) return this.#onHello(frame, hunted);
    if (id === 0) return this.#onSessionFrame(frame);
    if (!this.#ready) return; // a stream frame before the handshake belongs to an older session
    if (kind === FrameKind.Open) return this.#streams.accept(frame, this.#options.onOpen);
    this.#streams.get(id)?.receive(frame); // unknown ids race with Finish/Reset: dropped
  }

  #onHello(frame: Frame, hunted: boolean): void {
    const hello = this.#handshake.read(frame, (value) => runCheck(this.#options.checkPayload, 'hello', undefined, value));
    if (typeof hello === 'string') {
      if (!hunted) return this.#resync(hello);
      this.#dropped(frame, hello);
      return this.#parser.resync();
    }
    if (hello.protocol !== PROTOCOL_VERSION) return this.#reset(this.#handshake.refuse(hello.protocol), true);
    if (frame.kind === FrameKind.HelloAck) {
      if (hello.session !== this.#handshake.sessionId) return this.#dropped(frame, 'HelloAck for another session');
      this.#handshake.stop();
      if (!this.#ready) this.#becomeReady(hello);
      return;
    }
    // The same session again is a resend that crossed our HelloAck, not a restart.
    if (this.#ready && this.#peer?.session === hello.session) return this.#handshake.ack(hello);
    this.#handshake.stop();
    // Said to whoever started a request, so in their terms: a user of lodge exec sees the first.
    this.#reset(guestError('channel_reset', this.#options.role === 'host' ? 'the guest agent restarted while this was under way' : 'the host restarted'));
    this.#handshake.ack(hello);
    this.#becomeReady(hello);
  }

  #onSessionFrame(frame: Frame): void {
    if (frame.kind === FrameKind.Ping && frame.payload.length <= MAX_PING_PAYLOAD) {
      this.#outbox.transmit(encodeFrame({ kind: FrameKind.Pong, stream: 0, payload: frame.payload }));
    } else if (frame.kind === FrameKind.Pong) {
      this.#pings.answer(frame.payload);
    } else if (frame.kind === FrameKind.Reset) {
      const parsed = parseJsonPayload(frame.payload);
      if (!parsed.ok) return this.#resync(`Reset on stream 0: ${parsed.reason}`);
      const error = toGuestError(parsed.value);
      if (error.code !== 'protocol_mismatch') return this.#dropped(frame, `Reset ${error.code} on stream 0`);
      this.#handshake.stop();
      this.#reset(error, true);
    } else {
      this.#dropped(frame, `frame kind ${frame.kind} on stream 0`);
    }
  }

  /** A framing error we noticed: hunt, fail every stream, and say Hello again. */
  #resync(reason: string): void {
    if (this.#closed) return;
    // After a parser error it is hunting already, maybe holding the start of the next Hello: keep that.
    if (!this.#parser.hunting) this.#parser.resync(reason);
    this.#reset(guestError('channel_reset', reason));
    // The peer may hold streams it opened after acking our Hello, frames we lost here: always a new id.
    this.#usedId = false;
    this.#handshake.start();
  }

  #becomeReady(peer: Hello): void {
    this.#ready = true;
    this.#usedId = true;
    this.#peer = peer;
    this.#streams.dataPayload = peer.maxPayload ?? BASE_PAYLOAD;
    this.#mismatched = false;
    this.#guard(() => this.#options.onReady?.(peer));
  }

  /** Fails every stream and ping; tells onReset when there was a session to lose (or a protocol mismatch, once). */
  #reset(error: GuestError, mismatch = false): void {
    const tell = this.#ready || this.#streams.size > 0 || (mismatch && !this.#mismatched);
    this.#ready = false;
    this.#peer = undefined;
    this.#mismatched ||= mismatch;
    this.#streams.failAll({ error });
    this.#pings.failAll(GuestProtocolError.from(error));
    if (tell) this.#guard(() => this.#options.onReset?.(error));
  }

  /** A throwing transport is a lost transport: disconnect outside the caller's (maybe the parser's) stack. */
  #writeFailed(error: unknown): void {
    const generation = this.#generation;
    queueMicrotask(() => generation === this.#generation && this.disconnect(`transport write failed: ${messageOf(error)}`));
  }

  #dropped(frame: Frame, reason: string): void {
    this.#guard(() => this.#options.onGarbage?.(HEADER_SIZE + frame.payload.length, reason));
  }

  /** Runs a user callback or a frame handler; an exception is rethrown later so the parser and tables stay consistent. */
  #guard(run: () => void): void {
    try {
      run();
    } catch (error) {
      rethrowLater(error);
    }
  }
}
