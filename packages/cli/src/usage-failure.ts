import { UsageError } from './flag-values.js';

/** For tests: the UsageError `fn` throws (anything else is rethrown; no throw is a failure). */
export function usageFailure(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    if (err instanceof UsageError) return err;
    throw err;
  }
  throw new Error('expected a UsageError');
}
