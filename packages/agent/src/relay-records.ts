// Splits lodge-port's output into the port's bytes and its end-of-file marks (see native/lodge-port.c's header).

const HEADER = 4;

export interface RelayRecordHandlers {
  /** Bytes read from the port, in order: views into the chunk, not copies. */
  onData(bytes: Buffer): void;
  /** The port read end-of-file (the host closed its end). */
  onEof(): void;
}

/** A parser of `[u32 LE length][bytes]` records; length 0 is end-of-file. Chunks may cut records anywhere. */
export class RelayRecords {
  private readonly header = Buffer.alloc(HEADER);
  private headerHave = 0;
  /** Bytes of the current record still to come; 0: a header is next. */
  private left = 0;

  constructor(private readonly handlers: RelayRecordHandlers) {}

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.left > 0) {
        const take = Math.min(this.left, chunk.length - at);
        this.left -= take;
        this.handlers.onData(chunk.subarray(at, at + take));
        at += take;
        continue;
      }
      const take = Math.min(HEADER - this.headerHave, chunk.length - at);
      chunk.copy(this.header, this.headerHave, at, at + take);
      this.headerHave += take;
      at += take;
      if (this.headerHave < HEADER) return;
      this.headerHave = 0;
      this.left = this.header.readUInt32LE(0);
      if (this.left === 0) this.handlers.onEof();
    }
  }

  /** Between two relays: a record the dead one cut short is not continued by the next. */
  reset(): void {
    this.headerHave = 0;
    this.left = 0;
  }
}
