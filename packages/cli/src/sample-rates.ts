import { formatSize, type VmSample } from '@lodge/api/lite';

/** Per-second rates between two samples of one VM; undefined where either lacks the counter or it went back (restart). */
export interface SampleRates {
  diskReadBps?: number;
  diskWriteBps?: number;
  netRxBps?: number;
  netTxBps?: number;
}

export function ratesBetween(older: VmSample | undefined, newer: VmSample): SampleRates {
  if (!older) return {};
  const seconds = (Date.parse(newer.time) - Date.parse(older.time)) / 1000;
  const rate = (a: number | undefined, b: number | undefined): number | undefined =>
    a === undefined || b === undefined || seconds <= 0 || b < a ? undefined : (b - a) / seconds;
  return {
    diskReadBps: rate(older.diskReadBytes, newer.diskReadBytes),
    diskWriteBps: rate(older.diskWriteBytes, newer.diskWriteBytes),
    netRxBps: rate(older.netRxBytes, newer.netRxBytes),
    netTxBps: rate(older.netTxBytes, newer.netTxBytes),
  };
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
