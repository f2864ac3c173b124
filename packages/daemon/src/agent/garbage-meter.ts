import type { Logger } from 'pino';

/** A flooding guest must not flood the daemon's log too: one line per interval with the totals. */
const LOG_EVERY_MS = 10_000;

/** Counts bytes the session dropped (hunting, framing errors) and logs them rate-limited. */
export class GarbageMeter {
  total = 0;
  private pending = 0;
  private lastReason = '';
  private lastLog = 0;

  constructor(
    private readonly logger: Logger,
    private readonly socketPath: string,
  ) {}

  add(bytes: number, reason: string): void {
    this.total += bytes;
    this.pending += bytes;
    this.lastReason = reason;
    const now = Date.now();
    if (now - this.lastLog < LOG_EVERY_MS) return;
    this.lastLog = now;
    this.logger.warn({ socket: this.socketPath, bytes: this.pending, total: this.total, reason: this.lastReason }, 'guest agent sent garbage; dropped');
    this.pending = 0;
  }
}
