/** Megabytes as people read transfer sizes: decimal, one digit after the point. */
export const formatMB = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

export interface TransferTotals {
  entries: number;
  files: number;
  bytes: number;
  seconds: number;
}

/** Counts a copy as it goes: the progress line while it runs, the summary after. */
export class TransferMeter {
  files = 0;
  bytes = 0;
  private readonly startedAt: number;

  constructor(
    /** Known for uploads (the tree is measured first); downloads only learn it as they go. */
    readonly totalBytes?: number,
    private readonly now: () => number = Date.now,
  ) {
    this.startedAt = now();
  }

  get seconds(): number {
    return (this.now() - this.startedAt) / 1000;
  }

  /** Bytes per second so far; 0 until some time has passed. */
  get rate(): number {
    const s = this.seconds;
    return s > 0 ? this.bytes / s : 0;
  }

  /** "12.3 MB of 45.6 MB (27%), 3 files, 10.2 MB/s" */
  line(): string {
    const done = this.totalBytes === undefined
      ? formatMB(this.bytes)
      : `${formatMB(this.bytes)} of ${formatMB(this.totalBytes)} (${this.totalBytes > 0 ? Math.floor((100 * this.bytes) / this.totalBytes) : 100}%)`;
    return `${done}, ${this.files} file${this.files === 1 ? '' : 's'}, ${formatMB(this.rate)}/s`;
  }

  /** "copied 3 files, 45.6 MB in 4.2 s (10.9 MB/s)" */
  summary(): string {
    return `copied ${this.files} file${this.files === 1 ? '' : 's'}, ${formatMB(this.bytes)} in ${this.seconds.toFixed(1)} s (${formatMB(this.rate)}/s)`;
  }

  totals(entries: number): TransferTotals {
    return { entries, files: this.files, bytes: this.bytes, seconds: Math.round(this.seconds * 1000) / 1000 };
  }
}

/** A spinner with the meter's line on a terminal's stderr, redrawn a few times a second; nothing elsewhere. */
export async function showProgress(meter: TransferMeter, label: string): Promise<() => void> {
  if (!process.stderr.isTTY || !(process.stderr.columns > 0)) return () => undefined;
  const { default: ora } = await import('ora');
  const spinner = ora({ text: `${label}: ${meter.line()}`, stream: process.stderr }).start();
  const timer = setInterval(() => void (spinner.text = `${label}: ${meter.line()}`), 250);
  return () => {
    clearInterval(timer);
    spinner.stop();
  };
}
