/** What writeInTick needs of a stream (a Writable, or a connection that corks the stream it wraps). */
export interface CorkableStream {
  readonly writableCorked: number;
  cork(): void;
  uncork(): void;
  write(bytes: Buffer, callback?: (err?: Error | null) => void): boolean;
}

/**
 * Writes a frame's bytes to a transport stream; all the writes of one tick leave in one writev. A frame is often
 * several writes (a header, then the payload without a copy) and a small file's copy several frames: one syscall
 * each woke the peer each time (QEMU and the guest's relay), ~0.8 ms apiece in a TCG guest. `written` runs once
 * the bytes are out, with an error when the stream is destroyed first.
 */
export function writeInTick(out: CorkableStream, bytes: Buffer, written?: () => void): boolean {
  if (out.writableCorked === 0) {
    out.cork();
    process.nextTick(() => out.uncork());
  }
  return out.write(bytes, written && (() => written()));
}
