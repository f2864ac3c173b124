// The receiving side of a stream's channels: credit granted, data held, Close seen (docs/guest-protocol.md "Credit").
import type { Channel, GuestError } from './contract.js';
import { guestError } from './errors.js';

/** How much the peer may still send on a channel, and how much consumed data is not yet returned to it. */
export class InboundCredit {
  #threshold: number;
  /** Credit the peer still has: it may send this many bytes before our next Window. */
  #granted: number;
  /** Bytes received and not yet consumed. */
  #held = 0;
  /** Bytes consumed and not yet returned with a Window. */
  #toReturn = 0;

  constructor(window: number) {
    this.#granted = window;
    // Window batching: one Window per quarter window keeps the sender streaming without a frame per chunk.
    this.#threshold = Math.max(1, Math.floor(window / 4));
  }

  get granted(): number {
    return this.#granted;
  }

  /** Bytes received and not consumed yet. */
  get held(): number {
    return this.#held;
  }

  /**
   * Accounts arriving data; false when it exceeds the credit granted (a flow_control error). `returned`: of these
   * bytes, consumed ones whose credit someone else (lodge-port) already gave back to the peer in Windows of its own.
   */
  take(bytes: number, returned = 0): boolean {
    if (!Number.isInteger(returned) || returned < 0 || returned > bytes || bytes > this.#granted + returned) return false;
    this.#granted += returned - bytes;
    this.#held += bytes - returned;
    return true;
  }

  /** More credit for the peer (sent in a Window by the caller); Windows then go per eighth of the whole, not per
   * quarter of the initial window: fewer wake-ups for the sender (under TCG each costs the guest milliseconds). */
  extend(bytes: number): void {
    this.#threshold = Math.max(this.#threshold, Math.floor((this.#granted + this.#held + this.#toReturn + bytes) / 8));
    this.#granted += bytes;
  }

  /** Accounts consumed bytes; returns the credit to grant in a Window now, 0 to wait for more. */
  consume(bytes: number): number {
    const n = Number.isFinite(bytes) && bytes > 0 ? Math.min(Math.floor(bytes), this.#held) : 0;
    this.#held -= n;
    this.#toReturn += n;
    // Return at once when the peer has no credit left: it is (or is about to be) blocked on us.
    if (this.#toReturn === 0 || (this.#toReturn < this.#threshold && this.#granted > 0)) return 0;
    const grant = this.#toReturn;
    this.#toReturn = 0;
    this.#granted += grant;
    return grant;
  }
}

/** The three channels a stream receives on. */
export class Inbound {
  readonly #credits: InboundCredit[];
  readonly #ended = [false, false, false];

  constructor(window: number) {
    this.#credits = [new InboundCredit(window), new InboundCredit(window), new InboundCredit(window)];
  }

  /** Accounts a Data frame (or bytes lodge-port took, `returned` of them already returned): the error to reset the stream with, or undefined. */
  data(channel: Channel, bytes: number, returned = 0): GuestError | undefined {
    const credit = this.#credits[channel] as InboundCredit;
    if (this.#ended[channel]) return guestError('protocol_error', `data on channel ${channel} after Close`);
    if (!credit.take(bytes, returned)) return guestError('flow_control', `${bytes} bytes on channel ${channel} with ${credit.granted} bytes of credit`);
    return undefined;
  }

  /** Accounts a Close: true the first time for the channel. */
  close(channel: Channel): boolean {
    if (this.#ended[channel]) return false;
    this.#ended[channel] = true;
    return true;
  }

  /** Extra credit granted to the peer on a channel. */
  extend(channel: Channel, bytes: number): void {
    this.#credits[channel]?.extend(bytes);
  }

  /** Consumed bytes: the credit to return now in a Window (0 = not yet). */
  consume(channel: Channel, bytes: number): number {
    return this.#credits[channel]?.consume(bytes) ?? 0;
  }
}
