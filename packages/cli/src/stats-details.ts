import { formatSize, type VmSample } from '@lodge/api/lite';
import type { Pair } from './key-value-lines.js';
import { formatPercent, formatRate, guestMemory, qemuMemory, ratesAt } from './sample-rates.js';

/** At most this many rows of history in the human view; --json has them all. */
export const HISTORY_ROWS = 12;

/** The newest sample of `history` in detail. */
export function latestDetails(history: readonly VmSample[]): Pair[] {
  const s = history.at(-1) as VmSample;
  const before = history.length > 1;
  const r = ratesAt(history, history.length - 1);
  const net = s.netRxBytes === undefined ? undefined : `received ${formatSize(s.netRxBytes)}, sent ${formatSize(s.netTxBytes ?? 0)}`;
  return [
    ['vm', s.vm],
    ['sampled', s.time],
    ['cpu', `${formatPercent(s.cpuPercent)} of one host CPU, ${s.vcpus} vCPU${s.vcpus === 1 ? '' : 's'}, ${s.cpuSeconds.toFixed(1)} s in all`],
    ['guest memory', guestMemory(s) === '-' ? undefined : `${guestMemory(s)} used${s.guestTime ? ` (the guest said so at ${s.guestTime})` : ''}`],
    ['qemu memory', qemuMemory(s)],
    ['disk', `read ${formatSize(s.diskReadBytes)} (${s.diskReadOps} ops), written ${formatSize(s.diskWriteBytes)} (${s.diskWriteOps} ops)`],
    ['disk now', before ? `read ${formatRate(r.diskReadBps)}, write ${formatRate(r.diskWriteBps)}` : undefined],
    ['network', net],
    ['network now', before && net ? `in ${formatRate(r.netRxBps)}, out ${formatRate(r.netTxBps)}` : undefined],
  ];
}

export const HISTORY_HEAD = ['TIME', 'CPU', 'GUEST MEM', 'QEMU MEM', 'DISK READ', 'DISK WRITE', 'NET RX', 'NET TX'];

/** Up to HISTORY_ROWS rows spread over the window, newest last; rates over the gap to the sample before each. */
export function historyRows(history: readonly VmSample[]): string[][] {
  const step = Math.max(1, Math.ceil(history.length / HISTORY_ROWS));
  const picked: number[] = [];
  for (let i = history.length - 1; i >= 0 && picked.length < HISTORY_ROWS; i -= step) picked.unshift(i);
  return picked.map((i) => {
    const s = history[i] as VmSample;
    const r = ratesAt(history, i);
    const time = new Date(s.time).toLocaleTimeString('en-GB', { hour12: false });
    return [time, formatPercent(s.cpuPercent), guestMemory(s), qemuMemory(s), formatRate(r.diskReadBps), formatRate(r.diskWriteBps), formatRate(r.netRxBps), formatRate(r.netTxBps)];
  });
}
