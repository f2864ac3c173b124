// Splits lodge-port's output into the port's bytes, its end-of-file marks and its events (native/lodge-port.c's header).

const HEADER = 4;
const EVENT_BIT = 0x80000000;

export interface RelayRecordHandlers {
  /** Bytes read from the port, in order: views into the chunk, not copies. */
  onData(bytes: Buffer): void;
  /** The port read end-of-file (the host closed its end). */
  onEof(): void;
  /** An event of the relay (ARMED, SUNK, SINK-DONE, DONE, FAST), in order with the bytes around it. */
  onEvent(text: string): void;
}

/** A parser of `[u32 LE word][bytes]` records: length, 0 = end-of-file, 2^31 + n = an n-byte event. Chunks may cut
 * records anywhere. */
export class RelayRecords {
  private readonly header = Buffer.alloc(HEADER);
  private headerHave = 0;
  /** Bytes of the current record still to come; 0: a header is next. */
  private left = 0;
  /** The current record is an event: its bytes are collected here. */
  private event: Buffer[] | undefined;

  constructor(private readonly handlers: RelayRecordHandlers) {}

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.left > 0) {
        const take = Math.min(this.left, chunk.length - at);
        this.left -= take;
        const bytes = chunk.subarray(at, at + take);
        at += take;
        if (!this.event) this.handlers.onData(bytes);
        else {
          this.event.push(bytes);
          if (this.left === 0) this.#emitEvent();
        }
        continue;
      }
      const take = Math.min(HEADER - this.headerHave, chunk.length - at);
      chunk.copy(this.header, this.headerHave, at, at + take);
      this.headerHave += take;
      at += take;
      if (this.headerHave < HEADER) return;
      this.headerHave = 0;
      const word = this.header.readUInt32LE(0);
      this.left = word >= EVENT_BIT ? word - EVENT_BIT : word;
      if (word >= EVENT_BIT) {
        this.event = [];
        if (this.left === 0) this.#emitEvent();
      } else if (this.left === 0) this.handlers.onEof();
    }
  }

  /** Between two relays: a record the dead one cut short is not continued by the next. */
  reset(): void {
    this.headerHave = 0;
    this.left = 0;
    this.event = undefined;
  }

  #emitEvent(): void {
    const text = Buffer.concat(this.event ?? []).toString('latin1');
    this.event = undefined;
    this.handlers.onEvent(text);
  }
}
