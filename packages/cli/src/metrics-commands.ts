import type { Command } from 'commander';
import { parseDuration } from '@lodge/api/lite';
import type { LodgeClient } from '@lodge/client';
import { UsageError, wholeNumberFlag } from './flag-values.js';
import { keyValueLines } from './key-value-lines.js';
import type { Session } from './session.js';
import { historyRows, HISTORY_HEAD, latestDetails } from './stats-details.js';
import { renderTable } from './text-table.js';
import { runTop, TOP_SORT_HELP, topSortFlag } from './top-screen.js';

function sinceFlag(value: string): number {
  const seconds = parseDuration(value);
  if (typeof seconds === 'string') throw new UsageError(`--since: ${seconds}`);
  return seconds;
}

async function showStats(session: Session, client: LodgeClient, name: string, sinceSeconds: number): Promise<void> {
  const history = await client.vmStats(name, { since: new Date(Date.now() - sinceSeconds * 1000) });
  const latest = history.at(-1) ?? (await client.vmStats(name, { limit: 1 })).at(-1) ?? null;
  await session.emit({ latest, history }, async () => {
    if (!latest) return `No samples of "${name}" yet: VMs are sampled every few seconds while they run (lodge start ${name})`;
    const details = keyValueLines(latestDetails(history.length ? history : [latest]));
    if (history.length < 2) return details;
    return `${details}\n\n${await renderTable(HISTORY_HEAD, historyRows(history))}`;
  });
}

/** `lodge stats VM` and `lodge top`: what VMs use, from the daemon's samples. */
export function registerMetricsCommands(program: Command, session: Session): void {
  program
    .command('stats')
    .description("show a VM's latest sample (CPU, memory, disk, network) and its recent history")
    .argument('<name>', 'VM name')
    .option('--since <duration>', 'history window, e.g. 90s, 10m, 2h', '5m')
    .option('--json', 'print {latest, history} as JSON (every sample in the window)')
    .action(async (name: string, flags: { since: string }) => {
      await showStats(session, await session.connect(), name, sinceFlag(flags.since));
    });

  program
    .command('top')
    .description('live table of running VMs: CPU, vCPUs, memory, disk and network rates (keys: c m d n sort, q quits)')
    .option('--sort <key>', TOP_SORT_HELP, 'cpu')
    .option('--interval <seconds>', 'refresh every N seconds', '2')
    .option('--once', 'print one frame and exit (for scripts)')
    .option('--json', 'with --once: print the frame as JSON')
    .action(async (flags: { sort: string; interval: string; once?: boolean; json?: boolean }) => {
      const sort = topSortFlag(flags.sort);
      const intervalS = wholeNumberFlag('--interval', flags.interval, { min: 1, max: 3600 });
      await runTop(session, await session.connect(), { sort, intervalS, once: Boolean(flags.once || flags.json) });
    });
}
