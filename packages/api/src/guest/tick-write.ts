/** What writeInTick needs of a stream (a Writable, or a connection that corks the stream it wraps). */
export interface CorkableStream {
  readonly writableCorked: number;
  cork(): void;
  uncork(): void;
  write(bytes: Buffer, callback?: (err?: Error | null) => void): boolean;
}

/** Writes under this size are copied together (a small file's frames: entry, header, bytes), not handed over one by one. */
const MERGE_BELOW = 16 * 1024;
/** Merged bytes go to the stream at this size, or at the end of the tick. */
const MERGE_FLUSH = 64 * 1024;

interface Merging {
  chunks: Buffer[];
  bytes: number;
  written: (() => void)[];
}

const merging = new WeakMap<CorkableStream, Merging>();
/** Streams we corked for this tick: our uncork flushes their merged writes first. */
const corkedHere = new WeakSet<CorkableStream>();

/** Hands the merged small writes to the stream as one buffer; the stream's answer (false: wait for drain). */
function flushMerged(out: CorkableStream): boolean {
  const m = merging.get(out);
  if (!m) return true; // a record exists only with chunks in it
  merging.delete(out);
  const { chunks, written } = m;
  const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, m.bytes);
  return out.write(bytes, written.length === 0 ? undefined : () => written.forEach((w) => w()));
}

/**
 * Writes a frame's bytes to a transport stream; all the writes of one tick leave in one writev, and small writes
 * are first copied into one buffer. A frame is often several writes (a header, then the payload without a copy) and
 * a small file's copy several frames: one syscall each woke the peer each time (QEMU and the guest's relay), ~0.8 ms
 * apiece in a TCG guest, and a writev of thousands of tiny pieces cost the guest's kernel more than the bytes.
 * `written` runs once the bytes are out, with an error when the stream is destroyed first.
 */
export function writeInTick(out: CorkableStream, bytes: Buffer, written?: () => void): boolean {
  if (out.writableCorked === 0) {
    out.cork();
    corkedHere.add(out);
    process.nextTick(() => {
      corkedHere.delete(out);
      flushMerged(out);
      out.uncork();
    });
  }
  if (bytes.length >= MERGE_BELOW) {
    flushMerged(out); // order: what was merged before goes first
    return out.write(bytes, written && (() => written()));
  }
  let m = merging.get(out);
  if (!m) {
    merging.set(out, (m = { chunks: [], bytes: 0, written: [] }));
    if (!corkedHere.has(out)) process.nextTick(() => flushMerged(out)); // corked by someone else: out by the end of the tick all the same
  }
  m.chunks.push(bytes);
  m.bytes += bytes.length;
  if (written) m.written.push(written);
  // Under the flush size nothing was handed over, so nothing can have filled the stream: no drain to wait for.
  return m.bytes < MERGE_FLUSH ? true : flushMerged(out);
}
