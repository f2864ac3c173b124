import type { LodgeClient } from '@lodge/client';
import { UsageError } from './flag-values.js';
import type { Session } from './session.js';
import { renderTable } from './text-table.js';
import { SORT_KEYS, TOP_HEAD, TOP_SORTS, topEntry, topRows, type TopEntry, type TopSort } from './top-table.js';

export const TOP_SORT_HELP = `sort by ${TOP_SORTS.join('|')}`;
const CLEAR = '\x1b[H\x1b[2J';

export function topSortFlag(value: string): TopSort {
  if ((TOP_SORTS as readonly string[]).includes(value)) return value as TopSort;
  throw new UsageError(`--sort "${value}" is not valid: write one of ${TOP_SORTS.join(', ')}`);
}

/** Enough history for rates: the guest's network counters are read every guestInterval (30 s by default). */
const RATE_WINDOW_MS = 120_000;

/** The running VMs now: each one's latest sample and the ones before, for rates; a VM that went meanwhile is left out. */
async function entries(client: LodgeClient): Promise<TopEntry[]> {
  const latest = await client.stats();
  const since = new Date(Date.now() - RATE_WINDOW_MS);
  const histories = await Promise.all(latest.map((s) => client.vmStats(s.vm, { since, limit: 100 }).catch(() => [s])));
  return histories.map(topEntry).filter((e): e is TopEntry => e !== undefined);
}

async function frame(list: readonly TopEntry[], sort: TopSort): Promise<string> {
  if (list.length === 0) return 'No running VMs with samples yet (VMs are sampled every few seconds while they run)';
  return renderTable(TOP_HEAD, topRows(list, sort));
}

/** One frame (--once), or a screen refreshed every interval until q or Ctrl-C; c m d n change the sort. */
export async function runTop(session: Session, client: LodgeClient, o: { sort: TopSort; intervalS: number; once: boolean }): Promise<void> {
  if (o.once) {
    const list = await entries(client);
    return session.emit(list.map((e) => ({ ...e.sample, ...e.rates })), () => frame(list, o.sort));
  }
  let sort = o.sort;
  let last: TopEntry[] = [];
  const draw = async (): Promise<void> => {
    const header = `lodge top · ${last.length} running · sorted by ${sort} · keys: c m d n sort, q quits`;
    process.stdout.write(`${CLEAR}${header}\n\n${await frame(last, sort)}\n`);
  };
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  await new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (err?: unknown): void => {
      clearTimeout(timer);
      stdin.off('data', onKey);
      process.off('SIGINT', onSignal);
      if (raw) stdin.setRawMode(false);
      stdin.pause();
      if (err) reject(err);
      else resolve();
    };
    const onSignal = (): void => finish();
    const onKey = (data: Buffer): void => {
      const key = data.toString('utf8');
      if (key === 'q' || key === '\x03') return finish();
      const next = SORT_KEYS[key];
      if (next) {
        sort = next;
        void draw();
      }
    };
    const tick = async (): Promise<void> => {
      try {
        last = await entries(client);
        await draw();
        timer = setTimeout(() => void tick(), o.intervalS * 1000);
      } catch (err) {
        finish(err);
      }
    };
    if (raw) stdin.setRawMode(true);
    stdin.on('data', onKey);
    process.on('SIGINT', onSignal);
    void tick();
  });
}
