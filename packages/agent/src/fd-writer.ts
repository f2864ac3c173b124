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

export class FdWriter {
  private queue: Buffer[] = [];
  private queued = 0;
  private busy = false;
  private wantDrain = false;
  private closed = false;
  bytesOut = 0;
  writes = 0;

  constructor(private readonly options: FdWriterOptions) {}

  write(bytes: Buffer): boolean {
    if (this.closed) return true;
    this.queue.push(bytes);
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
    this.queue = [];
    this.queued = 0;
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
    const iovecs: Buffer[] = [];
    let total = 0;
    while (this.queue.length > 0 && total < MAX_BATCH) {
      const head = this.queue[0] as Buffer;
      const take = Math.min(head.length, IOV_BYTES, MAX_BATCH - total);
      iovecs.push(take === head.length ? head : head.subarray(0, take));
      if (take === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(take);
      total += take;
    }
    this.queued -= total;
    writev(this.options.fd, iovecs, (error, written) => {
      if (this.closed) return;
      if (error) {
        this.options.onError(error);
        return;
      }
      this.writes++;
      this.bytesOut += written;
      if (written < total) this.requeue(iovecs, written);
      this.maybeDrain();
      this.flush();
    });
  }

  /** Puts back what a short write left over, in order, before anything queued since. */
  private requeue(iovecs: Buffer[], written: number): void {
    const rest: Buffer[] = [];
    let skip = written;
    for (const iov of iovecs) {
      if (skip >= iov.length) skip -= iov.length;
      else {
        rest.push(skip > 0 ? iov.subarray(skip) : iov);
        skip = 0;
      }
    }
    for (const b of rest) this.queued += b.length;
    this.queue.unshift(...rest);
  }

  private maybeDrain(): void {
    if (this.wantDrain && this.queued < HIGH_WATER / 2) {
      this.wantDrain = false;
      this.options.onDrain();
    }
  }
}
