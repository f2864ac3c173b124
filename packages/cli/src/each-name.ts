import { apiErrorOf, printError } from './error-printer.js';
import type { Session } from './session.js';

/**
 * Runs work for each VM named on the command line. One name: its result (or its error, via the printer in main).
 * Several: every name is tried, errors printed as they come, exit 1 if any failed; --json prints an array
 * holding each result or {"error": ...}.
 */
export async function forEachName(session: Session, names: readonly string[], work: (name: string) => Promise<unknown>): Promise<void> {
  if (names.length === 1) {
    const result = await work(names[0] ?? '');
    if (session.json) await session.emit(result, () => '');
    return;
  }
  const items: unknown[] = [];
  for (const name of names) {
    try {
      items.push(await work(name));
    } catch (err) {
      process.exitCode = 1;
      items.push({ error: apiErrorOf(err) });
      if (!session.json) printError(err, false);
    }
  }
  if (session.json) await session.emit(items, () => '');
}
