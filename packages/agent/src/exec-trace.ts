// Timing marks of one exec when tracing is on: the steps between Open and Finish, in the order they happened.

export class ExecTrace {
  private readonly start = performance.now();
  private last = this.start;
  private readonly steps: string[] = [];

  /** Records the time since the previous mark under `label`. */
  mark(label: string): void {
    const now = performance.now();
    this.steps.push(`${label} ${(now - this.last).toFixed(1)}`);
    this.last = now;
  }

  /** "parsed 0.4 → user 1.2 → … (total 31.0 ms)". */
  line(): string {
    return `${this.steps.join(' → ')} (total ${(this.last - this.start).toFixed(1)} ms)`;
  }
}
