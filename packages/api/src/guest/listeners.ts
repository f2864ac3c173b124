// A tiny typed listener map (no EventEmitter: packages/api imports no node core module).

type Listener = (...args: never[]) => void;
interface Entry {
  listener: Listener;
  once: boolean;
}

/** Rethrows a listener's exception outside the engine's call stack, so the session's state stays consistent. */
export function rethrowLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

export class Listeners<Events extends { [E in keyof Events]: Listener }> {
  readonly #map = new Map<keyof Events, Entry[]>();

  add<E extends keyof Events>(event: E, listener: Events[E], once: boolean): void {
    const entries = this.#map.get(event);
    if (entries) entries.push({ listener, once });
    else this.#map.set(event, [{ listener, once }]);
  }

  remove<E extends keyof Events>(event: E, listener: Events[E]): void {
    const entries = this.#map.get(event);
    const at = entries ? entries.findIndex((e) => e.listener === listener) : -1;
    if (at >= 0) entries?.splice(at, 1);
  }

  has(event: keyof Events): boolean {
    return (this.#map.get(event)?.length ?? 0) > 0;
  }

  /** Calls the listeners in order; one that throws does not stop the others. */
  emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): void {
    const entries = this.#map.get(event);
    if (!entries || entries.length === 0) return;
    const current = entries.slice();
    for (const entry of current) {
      if (entry.once) this.remove(event, entry.listener as Events[E]);
      try {
        (entry.listener as (...a: Parameters<Events[E]>) => void)(...args);
      } catch (error) {
        rethrowLater(error);
      }
    }
  }

  clear(): void {
    this.#map.clear();
  }
}
