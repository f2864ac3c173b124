/** A typed listener set: add returns its own unsubscribe, and one throwing listener cannot starve the others. */
export class Listeners<T extends unknown[]> {
  readonly #set = new Set<(...args: T) => void>();

  add(listener: (...args: T) => void): () => void {
    // Wrapping makes each subscription distinct, so adding the same function twice needs two unsubscribes.
    const entry = (...args: T): void => listener(...args);
    this.#set.add(entry);
    return () => {
      this.#set.delete(entry);
    };
  }

  get size(): number {
    return this.#set.size;
  }

  /** Iterates over a copy so listeners may unsubscribe (or close the monitor) while being called. */
  emit(...args: T): void {
    for (const listener of [...this.#set]) {
      try {
        listener(...args);
      } catch (err) {
        // A listener's bug surfaces as an uncaught exception, as with EventEmitter, without corrupting the QMP stream.
        process.nextTick(() => {
          throw err;
        });
      }
    }
  }

  clear(): void {
    this.#set.clear();
  }
}
