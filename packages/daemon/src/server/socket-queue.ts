import type { WebSocket } from 'ws';

/** Runs work from client messages in order; the client is paused while any is pending (back-pressure to its sender). */
export class SocketQueue {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(
    private readonly ws: WebSocket,
    private readonly fail: (err: unknown) => void,
  ) {}

  push(work: () => Promise<void>): void {
    this.pending += 1;
    if (this.pending === 1) this.ws.pause();
    this.tail = this.tail.then(work).then(
      () => this.settled(),
      (err: unknown) => (this.settled(), this.fail(err)),
    );
  }

  private settled(): void {
    this.pending -= 1;
    // Also while closing: a paused socket never reads the client's close frame, and the close waits 30 s.
    if (this.pending === 0) this.ws.resume();
  }
}
