import { describe, expect, it } from 'vitest';
import type { VmSample } from '@lodge/api/lite';
import { guestMemory, ratesAt, ratesBetween } from './sample-rates.js';
import { sortEntries, topEntry, topRows, type TopEntry } from './top-table.js';

const at = (vm: string, second: number, extra: Partial<VmSample> = {}): VmSample => ({
  vm, time: new Date(second * 1000).toISOString(), cpuSeconds: second, cpuPercent: 0, vcpus: 1, qemuRssBytes: 200 * 2 ** 20,
  diskReadBytes: 0, diskWriteBytes: 0, diskReadOps: 0, diskWriteOps: 0, ...extra,
});

describe('ratesBetween', () => {
  it('divides counter growth by the seconds between samples', () => {
    const r = ratesBetween(at('a', 0, { netRxBytes: 0, netTxBytes: 0 }), at('a', 5, { diskReadBytes: 5 * 2 ** 20, diskWriteBytes: 10240, netRxBytes: 500, netTxBytes: 50 }));
    expect(r).toEqual({ diskReadBps: 2 ** 20, diskWriteBps: 2048, netRxBps: 100, netTxBps: 10 });
  });

  it('takes network rates between two readings of the guest, over the time between them', () => {
    const g = (second: number, guestSecond: number, rx: number): VmSample => at('a', second, { guestTime: new Date(guestSecond * 1000).toISOString(), netRxBytes: rx, netTxBytes: 0 });
    const history = [g(0, 0, 0), g(5, 0, 0), g(10, 10, 1000), g(15, 10, 1000)];
    expect(ratesAt(history, 3).netRxBps).toBe(100); // 1000 B between the readings at 0 and 10 s
    expect(ratesAt(history, 2).netRxBps).toBe(100);
    expect(ratesAt(history, 1).netRxBps).toBeUndefined(); // no earlier reading
  });

  it('gives no rate without an older sample, without a counter, or when a counter went back', () => {
    expect(ratesBetween(undefined, at('a', 5))).toEqual({});
    const r = ratesBetween(at('a', 0, { diskReadBytes: 100 }), at('a', 5, { diskReadBytes: 10 }));
    expect(r.diskReadBps).toBeUndefined();
    expect(r.netRxBps).toBeUndefined();
  });
});

describe('top table', () => {
  const entries = [
    topEntry([at('web', 0), at('web', 5, { cpuPercent: 20, diskWriteBytes: 5000 })]),
    topEntry([at('db', 5, { cpuPercent: 95, qemuRssBytes: 100 })]),
    topEntry([at('cache', 5, { cpuPercent: 20, qemuRssBytes: 300 * 2 ** 20 })]),
  ] as TopEntry[];

  it('sorts busiest first, by name for ties and for name', () => {
    expect(sortEntries(entries, 'cpu').map((e) => e.sample.vm)).toEqual(['db', 'cache', 'web']);
    expect(sortEntries(entries, 'memory').map((e) => e.sample.vm)).toEqual(['cache', 'web', 'db']);
    expect(sortEntries(entries, 'disk').map((e) => e.sample.vm)).toEqual(['web', 'cache', 'db']);
    expect(sortEntries(entries, 'name').map((e) => e.sample.vm)).toEqual(['cache', 'db', 'web']);
  });

  it('renders rates, and "-" for what nobody measured', () => {
    const [web] = topRows(entries, 'disk');
    expect(web).toEqual(['web', '20.0%', '1', '-', '200M', '0B/s', '1000B/s', '-', '-']);
    expect(guestMemory(at('a', 0, { guestMemTotalBytes: 200 * 2 ** 20, guestMemAvailableBytes: 50 * 2 ** 20 }))).toBe('150M / 200M');
  });
});
