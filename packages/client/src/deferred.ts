/** A promise with its settle functions, remembering whether it settled. */
export class Deferred<T> {
  settled = false;
  readonly promise: Promise<T>;
  private settle!: { resolve: (v: T) => void; reject: (e: unknown) => void };

  constructor() {
    this.promise = new Promise<T>((resolve, reject) => (this.settle = { resolve, reject }));
    this.promise.catch(() => undefined); // the owner awaits it; an early failure must not count as unhandled
  }

  resolve(value: T): void {
    if (this.settled) return;
    this.settled = true;
    this.settle.resolve(value);
  }

  reject(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.settle.reject(err);
  }
}
