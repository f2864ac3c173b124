import { constants } from 'node:os';
import type { ExecOutcome } from '@lodge/client';

/** What `timeout(1)` exits with when it had to kill the command. */
export const TIMED_OUT = 124;
/** Used when the guest reported neither a code nor a known signal (ssh uses 255 for its own failures too). */
export const UNKNOWN_EXIT = 255;

/** A signal by name ("SIGKILL", "KILL") to its number on this host, as the shell counts them. */
export function signalNumber(signal: string): number | undefined {
  const name = (signal.startsWith('SIG') ? signal : `SIG${signal}`) as NodeJS.Signals;
  return constants.signals[name];
}

/** The CLI's exit code for a guest process: its own, 124 after --timeout, or 128+N when signal N killed it (like ssh). */
export function exitCodeOf(outcome: Pick<ExecOutcome, 'exitCode' | 'signal' | 'timedOut'>): number {
  if (outcome.timedOut) return TIMED_OUT;
  if (outcome.exitCode !== null) return outcome.exitCode;
  const n = outcome.signal === null ? undefined : signalNumber(outcome.signal);
  return n === undefined ? UNKNOWN_EXIT : 128 + n;
}
