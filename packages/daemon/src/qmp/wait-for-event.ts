import { watchDeadline, type DeadlineOptions } from './deadline.js';
import { qmpErrors } from './errors.js';
import type { QmpEvent } from './protocol.js';

export interface WaitForEventOptions extends DeadlineOptions {
  /** Only events for which this returns true count; a throwing predicate rejects the wait. */
  predicate?: (ev: QmpEvent) => boolean;
}

/** The part of a monitor a wait needs, so this file does not import the class that uses it. */
interface EventSource {
  readonly closed: boolean;
  onEvent(listener: (ev: QmpEvent) => void): () => void;
  onClose(listener: (err?: Error) => void): () => void;
}

/** Resolves with the first matching event; rejects on timeout (default 10 s), abort or close. */
export function waitForEvent(source: EventSource, name: string, opts: WaitForEventOptions): Promise<QmpEvent> {
  return new Promise((resolve, reject) => {
    if (source.closed) return reject(qmpErrors.eventClosed(name, undefined));
    const errors = { timeout: (ms: number) => qmpErrors.eventTimeout(name, ms), aborted: (r: unknown) => qmpErrors.eventAborted(name, r) };
    const settle = (fn: () => void): void => {
      stopEvents();
      stopClose();
      stopDeadline();
      fn();
    };
    const stopEvents = source.onEvent((ev) => {
      if (ev.event !== name) return;
      try {
        if (opts.predicate && !opts.predicate(ev)) return;
      } catch (err) {
        return settle(() => reject(err));
      }
      settle(() => resolve(ev));
    });
    const stopClose = source.onClose((err) => settle(() => reject(qmpErrors.eventClosed(name, err))));
    const stopDeadline = watchDeadline(opts, errors, (err) => settle(() => reject(err)));
  });
}
