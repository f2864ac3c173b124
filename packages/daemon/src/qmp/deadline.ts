/** Commands and waits that never hear back must not hang a supervisor forever. */
export const DEFAULT_TIMEOUT_MS = 10_000;

export interface DeadlineOptions {
  /** Defaults to DEFAULT_TIMEOUT_MS; Infinity disables the timer. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface DeadlineErrors {
  timeout(ms: number): Error;
  aborted(reason: unknown): Error;
}

/**
 * Calls `fail` at most once, when the timer fires or the signal aborts, never synchronously;
 * the returned disposer must run when the work settles so nothing keeps firing or leaking.
 */
export function watchDeadline(opts: DeadlineOptions, errors: DeadlineErrors, fail: (err: Error) => void): () => void {
  const { timeoutMs = DEFAULT_TIMEOUT_MS, signal } = opts;
  let done = false;
  const fire = (err: () => Error): void => {
    if (done) return;
    dispose();
    fail(err());
  };
  const onAbort = (): void => fire(() => errors.aborted(signal?.reason));
  // setTimeout(Infinity) would fire after 1 ms, so an infinite deadline means no timer at all.
  const timer = Number.isFinite(timeoutMs) ? setTimeout(() => fire(() => errors.timeout(timeoutMs)), timeoutMs) : undefined;
  if (signal?.aborted) queueMicrotask(onAbort);
  else signal?.addEventListener('abort', onAbort, { once: true });
  function dispose(): void {
    done = true;
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
  return dispose;
}

/** The same deadline as a promise that only ever rejects, for racing a multi-step task. */
export function deadlinePromise(opts: DeadlineOptions, errors: DeadlineErrors): { promise: Promise<never>; dispose: () => void } {
  let dispose: () => void = () => {};
  const promise = new Promise<never>((_, reject) => {
    dispose = watchDeadline(opts, errors, reject);
  });
  return { promise, dispose };
}
