// The session's way out: the transport's back-pressure flag and the round-robin pump over streams with data.
import type { GuestStream } from './stream.js';

export class Outbox {
  readonly #write: (bytes: Buffer, written?: () => void) => boolean;
  readonly #onError: (error: unknown) => void;
  /** Streams with Data, Close or Finish to send. */
  readonly #sendable = new Set<GuestStream>();
  #blocked = false;
  #pumping = false;
  /** No more writes at all (the session is closed). */
  closed = false;

  constructor(write: (bytes: Buffer, written?: () => void) => boolean, onError: (error: unknown) => void) {
    this.#write = write;
    this.#onError = onError;
  }

  /** The transport's write() returned false: Data waits for drain(); small frames still go. */
  get blocked(): boolean {
    return this.#blocked;
  }

  /** Writes bytes; `written` is called once they are out (or dropped), whatever happens. */
  transmit(frame: Buffer, written?: () => void): void {
    if (this.closed) return written?.();
    try {
      if (!this.#write(frame, written)) this.#blocked = true;
    } catch (error) {
      this.#blocked = true;
      written?.();
      this.#onError(error);
    }
  }

  schedule(stream: GuestStream): void {
    if (stream.finished) return;
    this.#sendable.add(stream);
    this.pump();
  }

  forget(stream: GuestStream): void {
    this.#sendable.delete(stream);
  }

  drain(): void {
    this.#blocked = false;
    this.pump();
  }

  /** A new transport: not blocked, nothing pending. */
  reset(): void {
    this.#blocked = false;
    this.#sendable.clear();
  }

  /** Sends round-robin (one frame per stream and channel per turn) until all is sent, credit runs out or the transport blocks. */
  pump(): void {
    // Re-entered from a synchronous transport (write → peer → Window → schedule): the running loop picks the stream up.
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (!this.#blocked && this.#sendable.size > 0) {
        for (const stream of this.#sendable) {
          if (this.#blocked) break;
          if (!stream.flush()) this.#sendable.delete(stream);
        }
      }
    } finally {
      this.#pumping = false;
    }
  }
}
