// An ordered queue of stream events consumed by one async loop (events arrive synchronously, handling awaits).

export class EventQueue<T> {
  private items: T[] = [];
  private waiter: ((value: IteratorResult<T>) => void) | undefined;
  private ended = false;

  push(item: T): void {
    if (this.ended) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: item, done: false });
    } else this.items.push(item);
  }

  /** No more items: the loop ends after the queued ones. */
  end(): void {
    this.ended = true;
    if (this.waiter && this.items.length === 0) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: undefined, done: true });
    }
  }

  /** Takes queued items from the front while `match` accepts them (batching without waiting). */
  takeWhile<U extends T>(match: (item: T) => item is U, max: number): U[] {
    const out: U[] = [];
    while (out.length < max && this.items.length > 0 && match(this.items[0] as T)) out.push(this.items.shift() as U);
    return out;
  }

  next(): Promise<IteratorResult<T>> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next() };
  }
}
