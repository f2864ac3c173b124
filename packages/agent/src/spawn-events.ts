// Splits lodge-spawn's stdout into events: text lines, and after a "D ID CH LEN" line the LEN bytes of output.

/** Longest event line lodge-spawn writes (its numbers are bounded); longer means the stream is garbled. */
const MAX_LINE = 256;

export class SpawnEvents {
  /** Bytes of an event not complete yet (a line without its newline, or output not all here). */
  private pending: Buffer | undefined;

  constructor(private readonly onEvent: (fields: string[], data: Buffer | undefined) => void) {}

  /** Hands every complete event in `chunk` (with what came before) to onEvent; throws when the stream is garbled. */
  push(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    let at = 0;
    while (at < buf.length) {
      const nl = buf.indexOf(10, at);
      if (nl < 0) {
        if (buf.length - at > MAX_LINE) throw new Error(`an event line is longer than ${MAX_LINE} bytes`);
        break;
      }
      const fields = buf.toString('latin1', at, nl).split(' ');
      if (fields[0] !== 'D') {
        this.onEvent(fields, undefined);
        at = nl + 1;
        continue;
      }
      const end = nl + 1 + Number(fields[3]);
      if (!(end > nl + 1)) throw new Error(`bad output event "${fields.join(' ')}"`);
      if (end > buf.length) break;
      this.onEvent(fields, buf.subarray(nl + 1, end));
      at = end;
    }
    if (at < buf.length) this.pending = buf.subarray(at);
  }
}
