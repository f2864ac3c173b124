import type { LodgeClient, TreeItem } from '@lodge/client';
import type { CopyPlan } from './guest-path.js';
import { showProgress, TransferMeter, type TransferTotals } from './transfer-meter.js';

export interface CopyOptions {
  /** No progress line (also off when stderr is not a terminal). */
  quiet: boolean;
  /** lodged shares this host (canLendFiles): big files are lent to it and skip the socket. */
  lend: boolean;
}

const skipped = (path: string, what: string): void => void process.stderr.write(`lodge: skipped ${path}: a ${what} has no contents to copy\n`);

/** Host to guest: the tree is measured first so the progress has a total, then streamed (the daemon writes it). */
async function upload(client: LodgeClient, plan: Extract<CopyPlan, { direction: 'to-guest' }>, opts: CopyOptions): Promise<[TransferMeter, number]> {
  const { measureFileTree, readFileTree } = await import('@lodge/client');
  const total = await measureFileTree(plan.local);
  const meter = new TransferMeter(total.bytes);
  const stop = opts.quiet ? () => undefined : await showProgress(meter, `${plan.local} → ${plan.guest.vm}:${plan.guest.path}`);
  // lodged reads lent files in order and reports each one's bytes so far, its size last.
  let sent = 0;
  let lentDone = 0;
  const lentSizes: number[] = [];
  const progress = (bytes: number): void => {
    if (bytes === lentSizes[0]) (lentDone += bytes), lentSizes.shift(), (bytes = 0);
    meter.bytes = sent + lentDone + bytes;
  };
  async function* counted(): AsyncGenerator<TreeItem> {
    for await (const item of readFileTree(plan.local, { onSkip: skipped, lend: opts.lend })) {
      if ('data' in item) (sent += item.data.length), (meter.bytes = sent + lentDone);
      else if (item.entry.kind === 'file') meter.files += 1;
      if ('lent' in item && item.lent) lentSizes.push(item.entry.size);
      yield item;
    }
  }
  try {
    const done = await client.putFiles(plan.guest.vm, plan.guest.path, counted(), { progress });
    return [meter, done.entries];
  } finally {
    stop();
  }
}

/** Guest to host: written here, as the CLI's user, by FileTreeWriter (which refuses anything that would leave DST). */
async function download(client: LodgeClient, plan: Extract<CopyPlan, { direction: 'from-guest' }>, opts: CopyOptions): Promise<[TransferMeter, number]> {
  const { FileTreeWriter } = await import('@lodge/client');
  const meter = new TransferMeter();
  const writer = new FileTreeWriter(plan.local);
  const stop = opts.quiet ? () => undefined : await showProgress(meter, `${plan.guest.vm}:${plan.guest.path} → ${plan.local}`);
  try {
    await client.getFiles(plan.guest.vm, plan.guest.path, {
      entry: (e) => writer.entry(e),
      // No promise (a paused socket): the writer writes the chunk at once.
      data: (chunk) => {
        writer.data(chunk);
        meter.bytes = writer.bytes;
        meter.files = writer.files;
      },
      ...(opts.lend && {
        lend: () => writer.lend(),
        progress: (bytes: number) => void (meter.bytes = writer.bytes + bytes),
        written: async (path: string) => {
          await writer.written(path);
          meter.bytes = writer.bytes;
          meter.files = writer.files;
        },
      }),
    });
    const written = await writer.finish();
    meter.files = written.files;
    return [meter, written.entries];
  } catch (err) {
    await writer.abort();
    throw err;
  } finally {
    stop();
  }
}

/** Runs the copy; returns the meter (for the summary line) and the totals (for --json). */
export async function copyFiles(client: LodgeClient, plan: CopyPlan, opts: CopyOptions): Promise<{ meter: TransferMeter; totals: TransferTotals }> {
  const [meter, entries] = plan.direction === 'to-guest' ? await upload(client, plan, opts) : await download(client, plan, opts);
  return { meter, totals: meter.totals(entries) };
}
