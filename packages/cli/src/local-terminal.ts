import type { ReadStream, WriteStream } from 'node:tty';

export const DEFAULT_SIZE = { rows: 24, cols: 80 } as const;

/** The user's terminal: its size, raw mode for an interactive guest session, and putting it back. */
export class LocalTerminal {
  private raw = false;
  private readonly restoreOnExit = (): void => this.restore();

  constructor(
    private readonly stdin: NodeJS.ReadStream = process.stdin,
    private readonly outputs: readonly NodeJS.WriteStream[] = [process.stdout, process.stderr],
  ) {}

  get stdinIsTty(): boolean {
    return this.stdin.isTTY === true;
  }

  /** The output that is a terminal (stdout, else stderr): it has the window size and its resize events. */
  private get screen(): WriteStream | undefined {
    return this.outputs.find((s): s is WriteStream => s.isTTY === true);
  }

  /** A bare pty may report 0x0 until someone sets a size: then the classic 24x80. */
  size(): { rows: number; cols: number } {
    const s = this.screen;
    return s && s.rows > 0 && s.columns > 0 ? { rows: s.rows, cols: s.columns } : { ...DEFAULT_SIZE };
  }

  /** Keys go to the guest as bytes (Ctrl-C, Ctrl-D too); restored by restore() or, at the latest, at exit. */
  enterRaw(): void {
    if (!this.stdinIsTty || this.raw) return;
    (this.stdin as ReadStream).setRawMode(true);
    this.raw = true;
    process.on('exit', this.restoreOnExit);
  }

  restore(): void {
    if (!this.raw) return;
    this.raw = false;
    process.off('exit', this.restoreOnExit);
    (this.stdin as ReadStream).setRawMode(false);
  }

  /** Calls back with the new size on every window change (SIGWINCH); returns the unsubscribe. */
  onResize(listener: (rows: number, cols: number) => void): () => void {
    const s = this.screen;
    if (!s) return () => undefined;
    const onResize = (): void => {
      const { rows, cols } = this.size();
      listener(rows, cols);
    };
    s.on('resize', onResize);
    return () => void s.off('resize', onResize);
  }
}
