// Splits a socket's bytes into newline-terminated lines, refusing lines over a bound.

export class LineReader {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly maxLine: number) {}

  /** The complete lines in `chunk` (with what came before); throws when a line grows past maxLine. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      if (this.size + piece.length > this.maxLine) throw new Error(`a line is longer than ${this.maxLine} bytes`);
      lines.push(this.parts.length === 0 ? piece.toString('utf8') : Buffer.concat([...this.parts, piece]).toString('utf8'));
      this.parts = [];
      this.size = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.parts.push(chunk.subarray(start));
      this.size += chunk.length - start;
      if (this.size > this.maxLine) throw new Error(`a line is longer than ${this.maxLine} bytes`);
    }
    return lines;
  }
}
