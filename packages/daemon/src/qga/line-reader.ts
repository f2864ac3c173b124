import { qgaErrors } from './qga-errors.js';

/** exec output is buffered up to 16 MiB per stream by qemu-ga, so a guest-exec-status reply can reach ~43 MiB of base64. */
export const MAX_LINE_BYTES = 48 * 1024 * 1024;

/** qemu-ga precedes a guest-sync-delimited reply with 0xFF; the byte never occurs in UTF-8 JSON. */
export const DELIMITER = 0xff;
const NEWLINE = 0x0a;

export type Token = { kind: 'delimiter' } | { kind: 'line'; text: string };

/** Cuts the agent's byte stream into lines and delimiter marks, whatever the chunk boundaries. */
export class LineReader {
  #parts: Buffer[] = [];
  #size = 0;

  constructor(readonly maxLineBytes: number = MAX_LINE_BYTES) {}

  /** Tokens completed by this chunk; throws once an unterminated line outgrows the limit. */
  push(chunk: Buffer): Token[] {
    const tokens: Token[] = [];
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (byte !== NEWLINE && byte !== DELIMITER) continue;
      if (byte === DELIMITER) {
        // A delimiter cuts off whatever partial line came before it: that was a stale, half-read reply.
        this.reset();
        tokens.push({ kind: 'delimiter' });
      } else {
        this.#append(chunk.subarray(start, i));
        tokens.push({ kind: 'line', text: Buffer.concat(this.#parts, this.#size).toString('utf8') });
        this.reset();
      }
      start = i + 1;
    }
    this.#append(chunk.subarray(start));
    return tokens;
  }

  get buffered(): number {
    return this.#size;
  }

  /** Drops a partial line (new connection, or after a delimiter). */
  reset(): void {
    this.#parts = [];
    this.#size = 0;
  }

  #append(part: Buffer): void {
    if (part.length === 0) return;
    this.#size += part.length;
    // Fail as soon as the limit is passed: a confused peer could stream forever without a newline.
    if (this.#size > this.maxLineBytes) {
      this.reset();
      throw qgaErrors.protocol(`line longer than ${this.maxLineBytes} bytes`);
    }
    this.#parts.push(part);
  }
}
