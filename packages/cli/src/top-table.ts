import type { VmSample } from '@lodge/api/lite';
import { formatPercent, formatRate, guestMemory, qemuMemory, ratesAt, type SampleRates } from './sample-rates.js';

export const TOP_SORTS = ['cpu', 'memory', 'disk', 'name'] as const;
export type TopSort = (typeof TOP_SORTS)[number];
/** Keys that re-sort a running `lodge top`. */
export const SORT_KEYS: Readonly<Record<string, TopSort>> = { c: 'cpu', m: 'memory', d: 'disk', n: 'name' };

/** One running VM in a frame: its latest sample and the rates since the one before. */
export interface TopEntry {
  sample: VmSample;
  rates: SampleRates;
}

export function topEntry(history: readonly VmSample[]): TopEntry | undefined {
  const sample = history.at(-1);
  return sample && { sample, rates: ratesAt(history, history.length - 1) };
}

const diskRate = (e: TopEntry): number => (e.rates.diskReadBps ?? 0) + (e.rates.diskWriteBps ?? 0);

/** Busiest first (by name for ties and for --sort name). */
export function sortEntries(entries: readonly TopEntry[], by: TopSort): TopEntry[] {
  const key: Record<TopSort, (e: TopEntry) => number> = {
    cpu: (e) => e.sample.cpuPercent,
    memory: (e) => e.sample.qemuRssBytes,
    disk: diskRate,
    name: () => 0,
  };
  return [...entries].sort((a, b) => key[by](b) - key[by](a) || a.sample.vm.localeCompare(b.sample.vm));
}

export const TOP_HEAD = ['NAME', 'CPU', 'VCPUS', 'GUEST MEM', 'QEMU MEM', 'DISK READ', 'DISK WRITE', 'NET RX', 'NET TX'];

export function topRows(entries: readonly TopEntry[], by: TopSort): string[][] {
  return sortEntries(entries, by).map(({ sample: s, rates: r }) => [
    s.vm,
    formatPercent(s.cpuPercent),
    String(s.vcpus),
    guestMemory(s),
    qemuMemory(s),
    formatRate(r.diskReadBps),
    formatRate(r.diskWriteBps),
    formatRate(r.netRxBps),
    formatRate(r.netTxBps),
  ]);
}
