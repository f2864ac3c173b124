import type { FileHandle } from 'node:fs/promises';

/** The most one write takes: credit for the chunks in it returns when it ends, so the guest keeps sending meanwhile. */
const BATCH_BYTES = 1024 * 1024;
/** Buffers per writev (Linux's IOV_MAX). */
const BATCH_BUFFERS = 1024;

interface Pending {
  chunk: Buffer;
  resolve(): void;
  reject(err: unknown): void;
}

/** Writes all of `buffers` at the file's position (a writev may write fewer bytes than asked). */
async function writeAll(fh: FileHandle, buffers: Buffer[]): Promise<void> {
  let rest = buffers.filter((b) => b.length > 0);
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest);
    if (bytesWritten === 0) throw new Error('the file took no bytes');
    let skip = bytesWritten;
    let done = 0;
    while (done < rest.length && skip >= (rest[done] as Buffer).length) skip -= (rest[done++] as Buffer).length;
    rest = rest.slice(done);
    if (skip > 0) rest[0] = (rest[0] as Buffer).subarray(skip);
  }
}

/**
 * Appends chunks to an open file in their order; the chunks that arrive while a write is out go together in the next
 * writev. One write per chunk, each after the last had ended, made the file the slowest step of a copy out of the
 * guest: a thread-pool round trip per 64 KiB (or per sliver: chunks split where the guest's frames did) while the
 * guest waited for credit. Once a write fails, it and every later one reject with its error.
 */
export class FileAppender {
  #queue: Pending[] = [];
  #writing = false;
  #failure: { err: unknown } | undefined;

  constructor(private readonly fh: FileHandle) {}

  /** Resolves once the chunk is in the file. */
  append(chunk: Buffer): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure.err);
    return new Promise((resolve, reject) => {
      this.#queue.push({ chunk, resolve, reject });
      if (!this.#writing) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    while (this.#queue.length > 0) {
      let bytes = 0;
      let count = 0;
      while (count < this.#queue.length && count < BATCH_BUFFERS && (count === 0 || bytes + (this.#queue[count] as Pending).chunk.length <= BATCH_BYTES)) {
        bytes += (this.#queue[count] as Pending).chunk.length;
        count++;
      }
      const batch = this.#queue.splice(0, count);
      try {
        await writeAll(this.fh, batch.map((p) => p.chunk));
        for (const p of batch) p.resolve();
      } catch (err) {
        this.#failure = { err };
        for (const p of [...batch, ...this.#queue.splice(0)]) p.reject(err);
      }
    }
    this.#writing = false;
  }
}
