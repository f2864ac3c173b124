import type { WebSocket } from 'ws';

/** Buffers this many client messages before pausing the client. */
const HIGH_WATER = 16;

/** Client messages as an async iterable; the client is paused while the consumer is behind (back-pressure). */
export class MessageSource<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private done = false;
  private error: unknown;
  private wake: (() => void) | undefined;

  constructor(private readonly ws: WebSocket) {}

  push(item: T): void {
    if (this.done) return;
    this.items.push(item);
    if (this.items.length >= HIGH_WATER) this.ws.pause();
    this.notify();
  }

  end(): void {
    this.done = true;
    this.notify();
  }

  fail(err: unknown): void {
    if (this.done) return;
    this.done = true;
    this.error = err;
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const item = this.items.shift();
      if (item !== undefined) {
        if (this.items.length < HIGH_WATER / 2 && this.ws.isPaused) this.ws.resume();
        yield item;
        continue;
      }
      if (this.error !== undefined) throw this.error;
      if (this.done) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
