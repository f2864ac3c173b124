import { LodgeError } from '@lodge/api';
import { PROVISION_RECORD_MAX_BYTES } from '@lodge/api/guest';

/**
 * Splits the bytes of a file the guest appends to into complete lines. Only the unfinished last line is held,
 * and never more than PROVISION_RECORD_MAX_BYTES of it: a guest writing without newlines cannot grow our memory.
 */
export class ProvisionLines {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly maxLineBytes = PROVISION_RECORD_MAX_BYTES) {}

  /** The complete lines in `chunk` (with what was pending before it), without their "\n". */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let from = 0;
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, from)) {
      this.hold(chunk.subarray(from, nl));
      lines.push(Buffer.concat(this.pending, this.pendingBytes).toString('utf8').replace(/\r$/, ''));
      this.pending = [];
      this.pendingBytes = 0;
      from = nl + 1;
    }
    this.hold(chunk.subarray(from));
    return lines;
  }

  /** The file started over (the guest rebooted, or the provisioner ran again). */
  reset(): void {
    this.pending = [];
    this.pendingBytes = 0;
  }

  private hold(part: Buffer): void {
    if (part.length === 0) return;
    if (this.pendingBytes + part.length > this.maxLineBytes) {
      throw new LodgeError('provision_failed', `the guest's provisioning report has a line over ${this.maxLineBytes} bytes`, {
        hint: 'the guest wrote something other than progress records to the progress file; look at it with lodge exec',
      });
    }
    this.pending.push(Buffer.from(part)); // a copy: the read buffer is not kept alive by a short slice of it
    this.pendingBytes += part.length;
  }
}
