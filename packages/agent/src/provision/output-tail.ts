// The last bytes of a command's output (a failed record carries them), kept without holding all of it.

export class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.chunks.length > 1 && this.size - (this.chunks[0] as Buffer).length >= this.limit) this.size -= (this.chunks.shift() as Buffer).length;
  }

  /** At most `limit` bytes, starting on a UTF-8 character boundary. */
  bytes(): Buffer {
    const all = Buffer.concat(this.chunks);
    let start = Math.max(0, all.length - this.limit);
    while (start < all.length && start > 0 && ((all[start] as number) & 0xc0) === 0x80) start++;
    return all.subarray(start);
  }
}

/** The last `limit` bytes of a finished output, as text. */
export function tailText(output: Buffer, limit: number): string {
  const tail = new OutputTail(limit);
  tail.push(output);
  return tail.bytes().toString('utf8');
}
