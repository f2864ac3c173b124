import { qomGet } from './block-commands.js';
import { QmpError } from './errors.js';
import type { QmpCallOptions, QmpMonitor } from './monitor.js';

// Typed QMP commands for the guest's memory (balloon) and vCPUs (hot-add); the generic ones are in commands.ts.

/** One vCPU slot of the machine's topology; `qomPath` is set once a vCPU occupies it. */
export interface QmpHotpluggableCpu {
  type: string;
  vcpusCount: number;
  props: Record<string, number>;
  qomPath?: string;
}

/** The guest's memory as the balloon driver reports it (virtio-balloon statistics), in bytes. */
export interface QmpBalloonStats {
  /** Guest seconds since the epoch of the last report; 0 until the guest reported once. */
  lastUpdate: number;
  /** Stat name without its "stat-" prefix (total-memory, available-memory, free-memory, …) → bytes; unknown ones left out. */
  stats: Record<string, number>;
}

const shape = (command: string, r: unknown): QmpError =>
  new QmpError('qemu_failed', `QMP command "${command}" returned an unexpected shape: ${JSON.stringify(r)}`, { reason: 'protocol', command });

/** Sets the balloon target: the RAM the guest may keep, in bytes (QEMU inflates the balloon by the rest). */
export async function balloon(m: QmpMonitor, bytes: number, opts?: QmpCallOptions): Promise<void> {
  await m.execute('balloon', { value: bytes }, opts);
}

/** The RAM the guest has now, in bytes (boot RAM minus the balloon's current size). */
export async function queryBalloon(m: QmpMonitor, opts?: QmpCallOptions): Promise<number> {
  const r = await m.execute<{ actual?: unknown }>('query-balloon', undefined, opts);
  if (typeof r?.actual !== 'number') throw shape('query-balloon', r);
  return r.actual;
}

export async function qomSet(m: QmpMonitor, path: string, property: string, value: unknown, opts?: QmpCallOptions): Promise<void> {
  await m.execute('qom-set', { path, property, value }, opts);
}

/** Reads the balloon device's `guest-stats`; QEMU reports a stat the guest never sent as 2^64-1, left out here. */
export async function balloonStats(m: QmpMonitor, path: string, opts?: QmpCallOptions): Promise<QmpBalloonStats> {
  const r = await qomGet<{ stats?: Record<string, unknown>; 'last-update'?: unknown }>(m, path, 'guest-stats', opts);
  if (typeof r?.stats !== 'object' || r.stats === null || typeof r['last-update'] !== 'number') throw shape('qom-get guest-stats', r);
  const stats: Record<string, number> = {};
  for (const [name, value] of Object.entries(r.stats)) {
    if (typeof value === 'number' && value >= 0 && value < 2 ** 63) stats[name.replace(/^stat-/, '')] = value;
  }
  return { lastUpdate: r['last-update'], stats };
}

/** RAM QEMU booted with (`base`) and RAM hot-plugged since (`plugged`), in bytes. */
export async function queryMemorySizeSummary(m: QmpMonitor, opts?: QmpCallOptions): Promise<{ base: number; plugged: number }> {
  const r = await m.execute<{ 'base-memory'?: unknown; 'plugged-memory'?: unknown }>('query-memory-size-summary', undefined, opts);
  if (typeof r?.['base-memory'] !== 'number') throw shape('query-memory-size-summary', r);
  return { base: r['base-memory'], plugged: typeof r['plugged-memory'] === 'number' ? r['plugged-memory'] : 0 };
}

type RawSlot = { type: string; 'vcpus-count': number; props: Record<string, number>; 'qom-path'?: string };

/** Every vCPU slot up to -smp maxcpus, taken or free. */
export async function queryHotpluggableCpus(m: QmpMonitor, opts?: QmpCallOptions): Promise<QmpHotpluggableCpu[]> {
  const r = await m.execute<RawSlot[]>('query-hotpluggable-cpus', undefined, opts);
  if (!Array.isArray(r)) throw shape('query-hotpluggable-cpus', r);
  return r.map((s) => ({ type: s.type, vcpusCount: s['vcpus-count'], props: { ...s.props }, ...(s['qom-path'] ? { qomPath: s['qom-path'] } : {}) }));
}
