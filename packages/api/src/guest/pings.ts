// Ping/Pong liveness checks: each Ping carries a counter; its Pong settles the matching wait.
import { GuestProtocolError } from './errors.js';

interface Waiting {
  startedAt: number;
  resolve: (ms: number) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class Pings {
  #next = 1;
  readonly #waiting = new Map<number, Waiting>();

  /** A Ping payload and the promise its Pong resolves (round trip in ms), rejected after `timeoutMs`. */
  start(timeoutMs: number): { payload: Buffer; promise: Promise<number> } {
    const id = this.#next;
    this.#next = this.#next >= 0xffffffff ? 1 : this.#next + 1;
    const payload = Buffer.allocUnsafe(4);
    payload.writeUInt32BE(id, 0);
    const promise = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new GuestProtocolError('timeout', `no Pong within ${timeoutMs} ms`));
      }, Math.min(Math.max(timeoutMs, 0), 2 ** 31 - 1)); // setTimeout turns larger delays into 1 ms
      timer.unref?.();
      this.#waiting.set(id, { startedAt: performance.now(), resolve, reject, timer });
    });
    return { payload, promise };
  }

  /** A Pong from the peer; unknown or late ones are ignored. */
  answer(payload: Buffer): void {
    if (payload.length !== 4) return;
    const id = payload.readUInt32BE(0);
    const waiting = this.#waiting.get(id);
    if (!waiting) return;
    this.#waiting.delete(id);
    clearTimeout(waiting.timer);
    waiting.resolve(performance.now() - waiting.startedAt);
  }

  failAll(error: GuestProtocolError): void {
    const all = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const waiting of all) {
      clearTimeout(waiting.timer);
      waiting.reject(error);
    }
  }
}
