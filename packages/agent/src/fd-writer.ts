// Writes frames to a file descriptor with async writev: coalesces what queues up during a write, 32 KiB per iovec.

import { writev } from 'node:fs';

/** virtio_console's write() takes at most 32 KiB per call; writev loops over iovecs in one system call. */
const IOV_BYTES = 32 * 1024;
const MAX_BATCH = 256 * 1024;
const HIGH_WATER = 1024 * 1024;

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
