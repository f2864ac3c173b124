import { describe, expect, it } from 'vitest';
import { exitCodeOf, signalNumber, TIMED_OUT, UNKNOWN_EXIT } from './exit-status.js';

describe('exitCodeOf', () => {
  it("passes on the guest's exit code", () => {
    expect(exitCodeOf({ exitCode: 0, signal: null, timedOut: false })).toBe(0);
    expect(exitCodeOf({ exitCode: 42, signal: null, timedOut: false })).toBe(42);
  });

  it('maps a killing signal to 128+N, as ssh and shells do', () => {
    expect(exitCodeOf({ exitCode: null, signal: 'SIGKILL', timedOut: false })).toBe(137);
    expect(exitCodeOf({ exitCode: null, signal: 'SIGINT', timedOut: false })).toBe(130);
    expect(exitCodeOf({ exitCode: null, signal: 'TERM', timedOut: false })).toBe(143);
    expect(exitCodeOf({ exitCode: null, signal: 'SIGBOGUS', timedOut: false })).toBe(UNKNOWN_EXIT);
    expect(exitCodeOf({ exitCode: null, signal: null, timedOut: false })).toBe(UNKNOWN_EXIT);
  });

  it('says 124 when --timeout killed it, like timeout(1)', () => {
    expect(exitCodeOf({ exitCode: null, signal: 'SIGKILL', timedOut: true })).toBe(TIMED_OUT);
  });

  it('knows signals with or without the SIG prefix', () => {
    expect([signalNumber('SIGHUP'), signalNumber('HUP'), signalNumber('NOPE')]).toEqual([1, 1, undefined]);
  });
});
