import { describe, expect, it } from 'vitest';
import { SingleFlight } from './single-flight.js';

/** A run that finishes when told to and records whether it saw an abort. */
function gate(): { work: (s: AbortSignal) => Promise<number>; finish: (n: number) => void; runs: () => number; aborted: () => boolean } {
  let runs = 0;
  let signal: AbortSignal | undefined;
  let finish: (n: number) => void = () => undefined;
  const work = (s: AbortSignal): Promise<number> => {
    runs++;
    signal = s;
    return new Promise((resolve, reject) => {
      finish = resolve;
      s.addEventListener('abort', () => reject(s.reason as Error));
    });
  };
  return { work, finish: (n) => finish(n), runs: () => runs, aborted: () => signal?.aborted ?? false };
}

describe('SingleFlight', () => {
  it('gives concurrent callers of one key the same run, and starts a new run afterwards', async () => {
    const flights = new SingleFlight<number>();
    const g = gate();
    const both = Promise.all([flights.run('k', g.work), flights.run('k', g.work)]);
    g.finish(7);
    expect(await both).toEqual([7, 7]);
    expect(g.runs()).toBe(1);
    const again = flights.run('k', g.work);
    g.finish(8);
    expect(await again).toBe(8);
    expect(g.runs()).toBe(2);
  });

  it('keeps the run going while one waiter remains, and aborts it when the last one leaves', async () => {
    const flights = new SingleFlight<number>();
    const g = gate();
    const a = new AbortController();
    const b = new AbortController();
    const first = flights.run('k', g.work, a.signal);
    const second = flights.run('k', g.work, b.signal);
    a.abort(new Error('a left'));
    await expect(first).rejects.toThrow('a left');
    expect(g.aborted()).toBe(false);
    b.abort(new Error('b left'));
    await expect(second).rejects.toThrow('b left');
    expect(g.aborted()).toBe(true);
  });
});
