// Writes frames to a file descriptor with writev: coalesces what queues up in a tick, 32 KiB per iovec.
// Sync on the virtio port (a threadpool round trip per write halves throughput under TCG), async elsewhere.

import { writev, writevSync } from 'node:fs';

/** virtio_console's write() takes at most 32 KiB per call; writev loops over iovecs in one system call. */
const IOV_BYTES = 32 * 1024;
const MAX_BATCH = 256 * 1024;
const HIGH_WATER = 1024 * 1024;
/** A sync flush yields to the event loop after this much, so Window frames and other streams get their turn. */
const SYNC_SLICE = 1024 * 1024;

export interface FdWriterOptions {
  fd: number;
  onDrain(): void;
  onError(error: Error): void;
}

/** A queued buffer and what to call once its last byte is written (or dropped). */
interface Pending {
  bytes: Buffer;
  written: (() => void) | undefined;
}

export class FdWriter {
  private queue: Pending[] = [];
  private queued = 0;
  private busy = false;
  private wantDrain = false;
  private closed = false;
  bytesOut = 0;
  writes = 0;
  /**
   * Write on the main thread. Only for the virtio port while its host end is known to be there (it sent data):
   * QEMU and lodged always read it. A FIFO read by this same process would deadlock, and a write to a port
   * without a host blocks until one comes.
   */
  sync = false;

  constructor(private readonly options: FdWriterOptions) {}

  /** Queues bytes (not copied: the caller keeps them unchanged until `written` is called). */
  write(bytes: Buffer, written?: () => void): boolean {
    if (this.closed) {
      written?.();
      return true;
    }
    this.queue.push({ bytes, written });
    this.queued += bytes.length;
    if (!this.busy) {
      this.busy = true;
      // Frames produced in the same tick (Control + Data + Finish) go out in one writev.
      process.nextTick(() => this.flush());
    }
    if (this.queued >= HIGH_WATER) this.wantDrain = true;
    return !this.wantDrain;
  }

  /** Drops what is not yet handed to the kernel (the host end is gone; the session resends its state). */
  discard(): void {
    const dropped = this.queue;
    this.queue = [];
    this.queued = 0;
    for (const p of dropped) p.written?.();
  }

  close(): void {
    this.closed = true;
    this.discard();
  }

  private flush(): void {
    if (this.closed || this.queue.length === 0) {
      this.busy = false;
      this.maybeDrain();
      return;
    }
    if (this.sync) return this.flushSync();
    const iovecs = this.batch();
    writev(this.options.fd, iovecs.map((p) => p.bytes), (error, written) => {
      if (this.closed) return;
      if (error) {
        this.options.onError(error);
        return;
      }
      this.writes++;
      this.bytesOut += written;
      this.complete(iovecs, written);
      this.maybeDrain();
      this.flush();
    });
  }

  private flushSync(): void {
    let sent = 0;
    while (this.sync && !this.closed && this.queue.length > 0 && sent < SYNC_SLICE) {
      const iovecs = this.batch();
      let written: number;
      try {
        written = writevSync(this.options.fd, iovecs.map((p) => p.bytes));
      } catch (error) {
        this.options.onError(error as Error);
        return;
      }
      this.writes++;
      this.bytesOut += written;
      sent += written;
      this.complete(iovecs, written);
      this.maybeDrain();
    }
    if (!this.closed && this.queue.length > 0) setImmediate(() => this.flush());
    else {
      this.busy = false;
      this.maybeDrain();
    }
  }

  /** Takes up to MAX_BATCH bytes off the queue, in pieces of at most IOV_BYTES. */
  private batch(): Pending[] {
    const iovecs: Pending[] = [];
    let total = 0;
    while (this.queue.length > 0 && total < MAX_BATCH) {
      const head = this.queue[0] as Pending;
      const take = Math.min(head.bytes.length, IOV_BYTES, MAX_BATCH - total);
      if (take === head.bytes.length) {
        iovecs.push(head);
        this.queue.shift();
      } else {
        iovecs.push({ bytes: head.bytes.subarray(0, take), written: undefined });
        this.queue[0] = { bytes: head.bytes.subarray(take), written: head.written };
      }
      total += take;
    }
    this.queued -= total;
    return iovecs;
  }

  /** Calls back the buffers a writev ended and puts back what a short write left over, before anything queued since. */
  private complete(iovecs: Pending[], written: number): void {
    const rest: Pending[] = [];
    let skip = written;
    for (const iov of iovecs) {
      if (skip >= iov.bytes.length) {
        skip -= iov.bytes.length;
        iov.written?.();
      } else {
        rest.push(skip > 0 ? { bytes: iov.bytes.subarray(skip), written: iov.written } : iov);
        skip = 0;
      }
    }
    for (const p of rest) this.queued += p.bytes.length;
    this.queue.unshift(...rest);
  }

  private maybeDrain(): void {
    if (this.wantDrain && this.queued < HIGH_WATER / 2) {
      this.wantDrain = false;
      this.options.onDrain();
    }
  }
}
