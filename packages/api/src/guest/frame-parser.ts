// Incremental frame parser: hunts for a Hello/HelloAck, then reads frames; never holds more than one frame.
import { FRAME_MAGIC, FrameKind, HEADER_SIZE, MAX_PAYLOAD, type Frame } from './contract.js';
import { EMPTY_PAYLOAD, isFrameKind } from './frame.js';

export interface FrameParserHandlers {
  /** A whole frame; `hunted` = it was found while hunting (the parser is in sync from now on). */
  frame(frame: Frame, hunted: boolean): void;
  /** Bytes dropped while hunting; `reason` names why hunting started. */
  garbage?(bytes: number, reason: string): void;
  /** A framing error while in sync; the parser is hunting again when this is called. */
  error?(reason: string): void;
}

/** Largest Hello/HelloAck payload accepted while hunting (a real one is ~200 bytes): less to buffer on a false match. */
export const MAX_HELLO_PAYLOAD = 4096;
const MAGIC_0 = FRAME_MAGIC >> 8;
const MAGIC_1 = FRAME_MAGIC & 0xff;
const HUNTING = 'no frame start';

export interface FrameParserOptions {
  /**
   * A Data frame whose payload is not all in the chunk is handed on in pieces as it arrives (each a Data frame of
   * the same stream and channel), not collected into a copy: consumers of Data take any chunking.
   */
  splitData?: boolean;
}

export class FrameParser {
  readonly #handlers: FrameParserHandlers;
  readonly #splitData: boolean;
  /** Payload bytes still to come of a Data frame handed on in pieces (splitData). */
  #pieceLeft = 0;
  #hunting = true;
  /** A header split across chunks. */
  readonly #head = Buffer.alloc(HEADER_SIZE);
  #headLength = 0;
  /** The payload being collected, with its header's fields. */
  #body: Buffer | undefined;
  #bodyLength = 0;
  #bodyFilled = 0;
  #kind: FrameKind = FrameKind.Hello;
  #flags = 0;
  #stream = 0;
  /** Chunks pushed by a handler while we are inside push(): parsed after the current one, in order. */
  #backlog: Buffer[] = [];
  #pushing = false;
  #garbage = 0;
  #garbageReason = HUNTING;
  /** A framing error seen mid-parse, reported once the parser's state is consistent again. */
  #error: string | undefined;

  constructor(handlers: FrameParserHandlers, options: FrameParserOptions = {}) {
    this.#handlers = handlers;
    this.#splitData = options.splitData === true;
  }

  get hunting(): boolean {
    return this.#hunting;
  }

  /** Bytes held for a partial frame (at most HEADER_SIZE + MAX_PAYLOAD). */
  get buffered(): number {
    return this.#headLength + (this.#body ? HEADER_SIZE + this.#body.length : 0);
  }

  push(chunk: Buffer): void {
    if (this.#pushing) {
      this.#backlog.push(chunk);
      return;
    }
    this.#pushing = true;
    try {
      this.#consume(chunk);
      for (let next = this.#backlog.shift(); next; next = this.#backlog.shift()) this.#consume(next);
    } catch (error) {
      // A throwing handler lost the rest of a chunk: the byte stream is broken, so hunt afresh.
      this.#backlog.length = 0;
      this.resync('handler error');
      throw error;
    } finally {
      this.#pushing = false;
      this.#flushGarbage();
    }
  }

  /** Drops any partial frame and hunts for the next Hello/HelloAck. */
  resync(reason = HUNTING): void {
    this.#drop(this.#headLength + (this.#body ? HEADER_SIZE + this.#bodyLength : 0));
    this.#flushGarbage();
    this.#hunting = true;
    this.#garbageReason = reason;
    this.#headLength = 0;
    this.#body = undefined;
    this.#pieceLeft = 0;
  }

  #consume(chunk: Buffer): void {
    const end = chunk.length;
    let pos = 0;
    while (pos < end) {
      if (this.#error !== undefined) this.#reportError();
      if (this.#pieceLeft > 0) {
        pos = this.#piece(chunk, pos);
        continue;
      }
      if (this.#body) {
        pos = this.#fillBody(chunk, pos);
        continue;
      }
      if (this.#headLength > 0) {
        pos = this.#fillHead(chunk, pos);
        continue;
      }
      if (this.#hunting) {
        const at = chunk.indexOf(MAGIC_0, pos);
        const skip = (at < 0 ? end : at) - pos;
        this.#drop(skip);
        pos += skip;
        if (pos === end) break;
      }
      if (end - pos < HEADER_SIZE) {
        chunk.copy(this.#head, 0, pos, end);
        this.#headLength = end - pos;
        break;
      }
      if (!this.#accept(chunk, pos)) {
        this.#drop(1);
        pos += 1;
        continue;
      }
      const start = pos + HEADER_SIZE;
      if (end - start >= this.#bodyLength) {
        pos = start + this.#bodyLength;
        this.#emit(chunk.subarray(start, pos));
      } else pos = this.#startBody(chunk, start);
    }
    if (this.#error !== undefined) this.#reportError();
  }

  #reportError(): void {
    const error = this.#error as string;
    this.#error = undefined;
    this.#flushGarbage();
    this.#garbageReason = error;
    this.#handlers.error?.(error);
  }

  /** A payload that continues past this chunk: collected into a buffer of its own, or handed on in pieces. */
  #startBody(chunk: Buffer, start: number): number {
    if (this.#splitData && this.#kind === FrameKind.Data) {
      this.#pieceLeft = this.#bodyLength;
      return this.#piece(chunk, start);
    }
    this.#body = Buffer.allocUnsafe(this.#bodyLength);
    this.#bodyFilled = 0;
    return start;
  }

  #piece(chunk: Buffer, pos: number): number {
    const n = Math.min(this.#pieceLeft, chunk.length - pos);
    if (n === 0) return pos;
    this.#pieceLeft -= n;
    this.#emit(chunk.subarray(pos, pos + n));
    return pos + n;
  }

  #fillBody(chunk: Buffer, pos: number): number {
    const body = this.#body as Buffer;
    const n = Math.min(body.length - this.#bodyFilled, chunk.length - pos);
    chunk.copy(body, this.#bodyFilled, pos, pos + n);
    this.#bodyFilled += n;
    if (this.#bodyFilled === body.length) {
      this.#body = undefined;
      this.#emit(body);
    }
    return pos + n;
  }

  #fillHead(chunk: Buffer, pos: number): number {
    const n = Math.min(HEADER_SIZE - this.#headLength, chunk.length - pos);
    chunk.copy(this.#head, this.#headLength, pos, pos + n);
    this.#headLength += n;
    if (this.#headLength < HEADER_SIZE) return pos + n;
    if (this.#accept(this.#head, 0)) {
      this.#headLength = 0;
      const start = pos + n;
      // The common split (header across chunks, payload whole in this one) needs no copy either.
      if (chunk.length - start >= this.#bodyLength) {
        this.#emit(this.#bodyLength === 0 ? EMPTY_PAYLOAD : chunk.subarray(start, start + this.#bodyLength));
        return start + this.#bodyLength;
      }
      return this.#startBody(chunk, start);
    }
    // Not a frame start: drop its first byte and keep what follows from the next possible magic byte.
    const next = this.#head.indexOf(MAGIC_0, 1);
    const keep = next < 0 ? 0 : HEADER_SIZE - next;
    this.#drop(HEADER_SIZE - keep);
    if (keep > 0) this.#head.copyWithin(0, next, HEADER_SIZE);
    this.#headLength = keep;
    return pos + n;
  }

  /** Checks the header at `bytes[at..]` and keeps its fields; a framing error in sync starts hunting. */
  #accept(bytes: Buffer, at: number): boolean {
    const kind = bytes[at + 2] as number;
    const flags = bytes[at + 3] as number;
    const stream = bytes.readUInt32BE(at + 4);
    const length = bytes.readUInt32BE(at + 8);
    const magic = bytes[at] === MAGIC_0 && bytes[at + 1] === MAGIC_1;
    if (this.#hunting) {
      const hello = kind === FrameKind.Hello || kind === FrameKind.HelloAck;
      if (!magic || !hello || flags !== 0 || stream !== 0 || length < 2 || length > MAX_HELLO_PAYLOAD) return false;
    } else {
      const error = !magic ? 'bad magic' : !isFrameKind(kind) ? `unknown frame kind ${kind}` : length > MAX_PAYLOAD ? `frame length ${length} over ${MAX_PAYLOAD}` : undefined;
      if (error !== undefined) {
        this.#hunting = true;
        this.#error = error;
        return false;
      }
    }
    this.#kind = kind as FrameKind;
    this.#flags = flags;
    this.#stream = stream;
    this.#bodyLength = length;
    return true;
  }

  #emit(payload: Buffer): void {
    this.#flushGarbage();
    const hunted = this.#hunting;
    this.#hunting = false;
    this.#handlers.frame({ kind: this.#kind, flags: this.#flags, stream: this.#stream, payload }, hunted);
  }

  #drop(bytes: number): void {
    this.#garbage += bytes;
  }

  #flushGarbage(): void {
    if (this.#garbage === 0) return;
    const bytes = this.#garbage;
    this.#garbage = 0;
    this.#handlers.garbage?.(bytes, this.#garbageReason);
  }
}
