import { qgaErrors } from './qga-errors.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** True for the line answering our guest-sync-delimited with this id (older syncs' replies carry other ids). */
export function isSyncReply(text: string, id: number): boolean {
  try {
    const msg: unknown = JSON.parse(text);
    return isObject(msg) && msg.return === id;
  } catch {
    return false;
  }
}

/** The one reply the client waits for (QGA has no ids): settles exactly once, by reply, timeout, abort or close. */
export class PendingReply {
  readonly promise: Promise<unknown>;
  #resolve!: (value: unknown) => void;
  #reject!: (err: Error) => void;
  #settled = false;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => this.reject(qgaErrors.commandAborted(this.command, this.#signal?.reason));

  constructor(readonly command: string, timeoutMs: number, signal?: AbortSignal) {
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // setTimeout(Infinity) would fire after 1 ms, so an infinite budget means no timer at all.
    const ms = Math.max(1, Math.round(timeoutMs));
    this.#timer = Number.isFinite(timeoutMs) ? setTimeout(() => this.reject(qgaErrors.commandTimeout(command, ms)), ms) : undefined;
    this.#signal = signal;
    if (signal?.aborted) queueMicrotask(this.#onAbort);
    else signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  get settled(): boolean {
    return this.#settled;
  }

  /** Settles from one reply line: `{"return": …}` or `{"error": {class, desc}}`. */
  settleWith(text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return this.reject(qgaErrors.protocol(`invalid JSON from the guest agent: ${JSON.stringify(text.slice(0, 80))}`));
    }
    if (isObject(msg) && 'return' in msg) return this.resolve(msg.return);
    const err = isObject(msg) ? msg.error : undefined;
    if (isObject(err) && typeof err.class === 'string' && typeof err.desc === 'string') {
      return this.reject(qgaErrors.commandFailed(this.command, { class: err.class, desc: err.desc }));
    }
    this.reject(qgaErrors.protocol(`unrecognised reply ${JSON.stringify(text.slice(0, 80))}`));
  }

  resolve(value: unknown): void {
    if (this.#finish()) this.#resolve(value);
  }

  reject(err: Error): void {
    if (this.#finish()) this.#reject(err);
  }

  #finish(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    clearTimeout(this.#timer);
    this.#signal?.removeEventListener('abort', this.#onAbort);
    return true;
  }
}
