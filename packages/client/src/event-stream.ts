import type { WebSocket } from 'ws';

/** JSON messages of a WebSocket as an async iterable; ends when the socket closes. */
export class EventStream<T> implements AsyncIterable<T> {
  private readonly queue: T[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private ws: WebSocket | undefined;

  /** Fed by the socket's message listener, which exists before the socket opens. */
  push(data: Buffer): void {
    this.queue.push(JSON.parse(data.toString('utf8')) as T);
    this.wake?.();
  }

  bind(ws: WebSocket): this {
    this.ws = ws;
    ws.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
    return this;
  }

  close(): void {
    this.ws?.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const next = this.queue.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}
