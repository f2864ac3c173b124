interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
}

/** Concurrent callers with the same key share one run; the run is aborted only when every waiter has aborted. */
export class SingleFlight<T> {
  private readonly flights = new Map<string, Flight<T>>();

  run(key: string, work: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    let flight = this.flights.get(key);
    if (flight === undefined) {
      const controller = new AbortController();
      const created: Flight<T> = { controller, waiters: 0, promise: work(controller.signal) };
      const forget = (): void => { if (this.flights.get(key) === created) this.flights.delete(key); };
      // The no-op catch keeps an abandoned run's rejection from becoming an unhandled rejection.
      created.promise.then(forget, forget).catch(() => undefined);
      this.flights.set(key, created);
      flight = created;
    }
    flight.waiters++;
    return signal === undefined ? flight.promise : this.wait(key, flight, signal);
  }

  private wait(key: string, flight: Flight<T>, signal: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        if (--flight.waiters === 0) {
          // New callers must not join a run that is being torn down.
          if (this.flights.get(key) === flight) this.flights.delete(key);
          flight.controller.abort(signal.reason);
        }
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }
}
