import { qmpErrors } from './errors.js';

/** QMP messages are single JSON lines; the biggest real replies (query-qmp-schema) stay well under this. */
export const MAX_LINE_BYTES = 8 * 1024 * 1024;

const NEWLINE = 0x0a;

/** Cuts a byte stream into lines, whatever the chunk boundaries; bytes are decoded per whole line so UTF-8 never splits. */
export class LineSplitter {
  #parts: Buffer[] = [];
  #size = 0;

  constructor(readonly maxLineBytes: number = MAX_LINE_BYTES) {}

  /** Returns the lines completed by this chunk, without their '\n'; throws once a line outgrows the limit. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      this.#append(chunk.subarray(start, nl));
      lines.push(Buffer.concat(this.#parts, this.#size).toString('utf8'));
      this.#parts = [];
      this.#size = 0;
      start = nl + 1;
    }
    this.#append(chunk.subarray(start));
    return lines;
  }

  /** Bytes held for a line not yet terminated. */
  get buffered(): number {
    return this.#size;
  }

  #append(part: Buffer): void {
    if (part.length === 0) return;
    this.#size += part.length;
    // Fail as soon as the limit is passed, not when the newline finally comes: a peer could stream forever.
    if (this.#size > this.maxLineBytes) {
      this.#parts = [];
      throw qmpErrors.protocol(`line longer than ${this.maxLineBytes} bytes`);
    }
    this.#parts.push(part);
  }
}
