import { watchDeadline, type DeadlineOptions } from './deadline.js';
import { qmpErrors } from './errors.js';

interface Entry {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  dispose: () => void;
}

/** Commands awaiting their reply, keyed by request id; each one settles exactly once (reply, timeout, abort or close). */
export class PendingCalls {
  readonly #entries = new Map<string, Entry>();

  get size(): number {
    return this.#entries.size;
  }

  /** Register before writing the request, so a reply arriving in the same tick finds its entry. */
  add(id: string, command: string, opts: DeadlineOptions): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const errors = { timeout: (ms: number) => qmpErrors.commandTimeout(command, ms), aborted: (r: unknown) => qmpErrors.commandAborted(command, r) };
      // A late reply to a timed-out command finds no entry and is dropped: QMP has no way to cancel a command.
      const dispose = watchDeadline(opts, errors, (err) => this.#take(id)?.reject(err));
      this.#entries.set(id, { command, resolve, reject, dispose });
    });
  }

  /** Returns false for unknown ids (already timed out or aborted). */
  resolve(id: string, value: unknown): boolean {
    const entry = this.#take(id);
    entry?.resolve(value);
    return entry !== undefined;
  }

  reject(id: string, makeError: (command: string) => Error): boolean {
    const entry = this.#take(id);
    entry?.reject(makeError(entry.command));
    return entry !== undefined;
  }

  rejectAll(makeError: (command: string) => Error): void {
    for (const id of [...this.#entries.keys()]) this.reject(id, makeError);
  }

  #take(id: string): Entry | undefined {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    this.#entries.delete(id);
    entry.dispose();
    return entry;
  }
}
