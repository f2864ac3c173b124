import type { WebSocket } from 'ws';

/** A WebSocket of JSON messages as an async iterable; ends when the socket closes. */
export class EventStream<T> implements AsyncIterable<T> {
  private readonly queue: T[] = [];
  private wake: (() => void) | undefined;
  private ended = false;

  constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.queue.push(JSON.parse(data.toString('utf8')) as T);
      this.wake?.();
    });
    ws.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
  }

  close(): void {
    this.ws.close();
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
