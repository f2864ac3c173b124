// Error lines to stderr (busybox init sends them to the console), rate-limited so a loop cannot flood it.

import { existsSync } from 'node:fs';

const WINDOW_MS = 60_000;
const MAX_PER_WINDOW = 20;

let windowStart = 0;
let written = 0;
let suppressed = 0;

/** Writes one line `lodge-agent: <message>`; beyond 20 lines a minute it counts instead. */
export function logError(message: string): void {
  const now = Date.now();
  if (now - windowStart > WINDOW_MS) {
    if (suppressed > 0) process.stderr.write(`lodge-agent: ${suppressed} more errors suppressed\n`);
    windowStart = now;
    written = 0;
    suppressed = 0;
  }
  if (written >= MAX_PER_WINDOW) {
    suppressed++;
    return;
  }
  written++;
  process.stderr.write(`lodge-agent: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
}

/** The message of anything thrown. */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Timing lines for measuring where an exec's time goes: on when LODGE_AGENT_TRACE=1 or /run/lodge/trace exists at start. */
export const tracing = process.env.LODGE_AGENT_TRACE === '1' || existsSync('/run/lodge/trace');

/** Writes `lodge-agent: trace <message>` when tracing (not rate-limited: it is asked for). */
export function trace(message: string): void {
  if (tracing) process.stderr.write(`lodge-agent: trace ${message}\n`);
}
