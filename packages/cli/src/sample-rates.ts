import { formatSize, type VmSample } from '@lodge/api/lite';

/** Per-second rates between two samples of one VM; undefined where either lacks the counter or it went back (restart). */
export interface SampleRates {
  diskReadBps?: number;
  diskWriteBps?: number;
  netRxBps?: number;
  netTxBps?: number;
}

/** Network counters come from the guest, read at `guestTime` (less often than samples are taken); else at `time`. */
const guestAt = (s: VmSample): number => Date.parse(s.guestTime ?? s.time);

function rate(a: number | undefined, b: number | undefined, seconds: number): number | undefined {
  return a === undefined || b === undefined || seconds <= 0 || b < a ? undefined : (b - a) / seconds;
}

export function ratesBetween(older: VmSample | undefined, newer: VmSample): SampleRates {
  if (!older) return {};
  const seconds = (Date.parse(newer.time) - Date.parse(older.time)) / 1000;
  const guestSeconds = (guestAt(newer) - guestAt(older)) / 1000;
  return {
    diskReadBps: rate(older.diskReadBytes, newer.diskReadBytes, seconds),
    diskWriteBps: rate(older.diskWriteBytes, newer.diskWriteBytes, seconds),
    netRxBps: rate(older.netRxBytes, newer.netRxBytes, guestSeconds),
    netTxBps: rate(older.netTxBytes, newer.netTxBytes, guestSeconds),
  };
}

/** Rates at history[i]: disk against the sample before, network against the guest's previous reading. */
export function ratesAt(history: readonly VmSample[], i: number): SampleRates {
  const s = history[i];
  if (!s) return {};
  const disk = ratesBetween(history[i - 1], s);
  let j = i - 1;
  while (j >= 0 && (history[j] as VmSample).guestTime === s.guestTime && s.guestTime !== undefined) j--;
  const net = ratesBetween(history[j], s);
  return { diskReadBps: disk.diskReadBps, diskWriteBps: disk.diskWriteBps, netRxBps: net.netRxBps, netTxBps: net.netTxBps };
}

/** "1.5M/s", "0B/s"; "-" when not measured. */
export const formatRate = (bps: number | undefined): string => (bps === undefined ? '-' : `${formatSize(Math.round(bps))}/s`);

export const formatPercent = (p: number): string => `${p.toFixed(1)}%`;

/** What the guest uses of what it has ("120M / 190M"), from its own view; "-" without a guest view. */
export function guestMemory(s: VmSample): string {
  const total = s.guestMemTotalBytes;
  if (total === undefined || s.guestMemAvailableBytes === undefined) return s.balloonBytes === undefined ? '-' : `? / ${formatSize(s.balloonBytes)}`;
  return `${formatSize(total - s.guestMemAvailableBytes)} / ${formatSize(s.balloonBytes ?? total)}`;
}

/** QEMU's resident memory, against the cgroup limit when there is one. */
export const qemuMemory = (s: VmSample): string =>
  s.memoryLimitBytes === undefined ? formatSize(s.qemuRssBytes) : `${formatSize(s.qemuRssBytes)} / ${formatSize(s.memoryLimitBytes)}`;
