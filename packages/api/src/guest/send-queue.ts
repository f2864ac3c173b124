// The sending side of one channel: queued writes, the credit the peer granted, and the pending Close.

interface PendingWrite {
  chunk: Buffer;
  offset: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

function ignore(): void {}

export class SendQueue {
  /** Bytes the peer lets us send now. */
  credit: number;
  /** end() was called: Close goes out once the queue is empty. */
  closing = false;
  /** Close was sent. */
  closed = false;
  #items: PendingWrite[] = [];
  #head = 0;
  #queued = 0;

  constructor(credit: number) {
    this.credit = credit;
  }

  /** Bytes queued and not yet handed to the transport. */
  get queued(): number {
    return this.#queued;
  }

  /** Payload size of the next Data frame, at most `max` (0 = nothing to send, or no credit). */
  sendable(max: number): number {
    return Math.min(this.credit, this.#queued, max);
  }

  /** Queues a chunk (not copied: the caller must not change it until the promise settles). */
  push(chunk: Buffer): Promise<void> {
    const promise = new Promise<void>((resolve, reject) => {
      this.#items.push({ chunk, offset: 0, resolve, reject });
    });
    this.#queued += chunk.length;
    // The stream's `done` event reports the failure too: a caller that drops the promise must not crash the process.
    promise.catch(ignore);
    return promise;
  }

  /** Copies the next `n` queued bytes into `target` at `at`; returns the resolvers of the writes this completes. */
  take(target: Buffer, at: number, n: number): Array<() => void> {
    const { slices, completed } = this.slice(n);
    let filled = 0;
    for (const s of slices) filled += s.copy(target, at + filled);
    return completed;
  }

  /** The next `n` queued bytes as views of the writers' chunks (no copy), and the resolvers of the writes they end. */
  slice(n: number): { slices: Buffer[]; completed: Array<() => void> } {
    const slices: Buffer[] = [];
    const completed: Array<() => void> = [];
    let filled = 0;
    while (filled < n) {
      const item = this.#items[this.#head] as PendingWrite;
      const count = Math.min(item.chunk.length - item.offset, n - filled);
      slices.push(item.chunk.subarray(item.offset, item.offset + count));
      item.offset += count;
      filled += count;
      if (item.offset === item.chunk.length) {
        completed.push(item.resolve);
        this.#head += 1;
      }
    }
    this.#queued -= n;
    this.credit -= n;
    this.#compact();
    return { slices, completed };
  }

  /** Rejects every queued write. */
  fail(error: Error): void {
    const items = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    this.#queued = 0;
    for (const item of items) item.reject(error);
  }

  #compact(): void {
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}
