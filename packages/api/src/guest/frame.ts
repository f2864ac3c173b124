// Frame encoding (docs/guest-protocol.md "Frames"): a 12-byte big-endian header, then the payload.
import { BASE_PAYLOAD, FRAME_MAGIC, FrameKind, HEADER_SIZE, MAX_PAYLOAD } from './contract.js';
import { GuestProtocolError } from './errors.js';

export interface FrameSpec {
  kind: FrameKind;
  flags?: number;
  stream: number;
  payload?: Buffer;
}

export const EMPTY_PAYLOAD = Buffer.alloc(0);
const LAST_KIND = FrameKind.Pong;

export function isFrameKind(value: number): value is FrameKind {
  return Number.isInteger(value) && value >= FrameKind.Hello && value <= LAST_KIND;
}

/** Writes a header at `target[0..12)`; the caller puts `length` payload bytes after it. */
export function writeHeader(target: Buffer, kind: FrameKind, flags: number, stream: number, length: number): void {
  target.writeUInt16BE(FRAME_MAGIC, 0);
  target[2] = kind;
  target[3] = flags;
  target.writeUInt32BE(stream, 4);
  target.writeUInt32BE(length, 8);
}

/** Header + payload in one buffer (one copy of the payload); throws on a payload over MAX_PAYLOAD or bad fields. */
export function encodeFrame(frame: FrameSpec): Buffer {
  const payload = frame.payload ?? EMPTY_PAYLOAD;
  const flags = frame.flags ?? 0;
  if (payload.length > MAX_PAYLOAD) {
    throw new GuestProtocolError('invalid_argument', `frame payload of ${payload.length} bytes is over ${MAX_PAYLOAD}`);
  }
  if (!isFrameKind(frame.kind)) throw new GuestProtocolError('invalid_argument', `unknown frame kind ${frame.kind}`);
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff) throw new GuestProtocolError('invalid_argument', `frame flags ${flags}`);
  if (!Number.isInteger(frame.stream) || frame.stream < 0 || frame.stream > 0xffffffff) {
    throw new GuestProtocolError('invalid_argument', `stream id ${frame.stream}`);
  }
  const bytes = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  writeHeader(bytes, frame.kind, flags, frame.stream, payload.length);
  payload.copy(bytes, HEADER_SIZE);
  return bytes;
}

/** A frame whose payload is `value` as JSON; `undefined` gives an empty payload (an empty Finish). */
export function encodeJsonFrame(kind: FrameKind, stream: number, value: unknown, flags = 0): Buffer {
  const payload = value === undefined ? EMPTY_PAYLOAD : Buffer.from(JSON.stringify(value), 'utf8');
  // Every peer (older agents too) takes BASE_PAYLOAD: only Data frames are sized to what the peer announced.
  if (payload.length > BASE_PAYLOAD) {
    throw new GuestProtocolError('invalid_argument', `JSON frame payload of ${payload.length} bytes is over ${BASE_PAYLOAD}`);
  }
  return encodeFrame({ kind, flags, stream, payload });
}

/** The u32 payload of a Window frame. */
export function encodeWindow(bytes: number): Buffer {
  if (!Number.isInteger(bytes) || bytes < 0 || bytes > 0xffffffff) {
    throw new GuestProtocolError('invalid_argument', `window of ${bytes} bytes`);
  }
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(bytes, 0);
  return payload;
}

/** The credit in a Window payload, or undefined when it is not exactly 4 bytes. */
export function decodeWindow(payload: Buffer): number | undefined {
  return payload.length === 4 ? payload.readUInt32BE(0) : undefined;
}

export type JsonPayload = { ok: true; value: unknown } | { ok: false; reason: string };

/** Parses a JSON payload from the peer; an empty payload is `undefined` only where `allowEmpty`. */
export function parseJsonPayload(payload: Buffer, allowEmpty = false): JsonPayload {
  if (payload.length === 0) return allowEmpty ? { ok: true, value: undefined } : { ok: false, reason: 'empty JSON payload' };
  try {
    return { ok: true, value: JSON.parse(payload.toString('utf8')) as unknown };
  } catch (error) {
    return { ok: false, reason: `JSON payload does not parse: ${error instanceof Error ? error.message : String(error)}` };
  }
}
