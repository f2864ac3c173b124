/** Pings the agent while the session is ready: `maxMisses` unanswered pings in a row mark it gone, any answer alive. */
export class Liveness {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private misses = 0;

  constructor(
    private readonly o: {
      ping(timeoutMs: number): Promise<number>;
      intervalMs: number;
      maxMisses: number;
      onAlive(): void;
      onGone(): void;
    },
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.misses = 0;
    this.schedule(this.o.intervalMs);
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    const began = Date.now();
    let answered = false;
    try {
      await this.o.ping(this.o.intervalMs);
      answered = true;
    } catch {
      answered = false;
    }
    if (!this.running) return;
    if (answered) {
      this.misses = 0;
      this.o.onAlive();
    } else if (++this.misses >= this.o.maxMisses) {
      this.o.onGone();
    }
    // One ping per interval from its start: a miss that already waited its timeout is followed at once.
    this.schedule(Math.max(0, this.o.intervalMs - (Date.now() - began)));
  }
}
