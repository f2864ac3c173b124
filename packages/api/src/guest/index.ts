export * from './contract.js';
export { GuestProtocolError, guestError, isGuestErrorCode, toGuestError } from './errors.js';
export {
  decodeWindow, encodeFrame, encodeJsonFrame, encodeWindow, isFrameKind, parseJsonPayload, writeHeader,
  type FrameSpec, type JsonPayload,
} from './frame.js';
export { FrameParser, MAX_HELLO_PAYLOAD, type FrameParserHandlers } from './frame-parser.js';
export { createSession } from './session.js';
export { writeInTick, type CorkableStream } from './tick-write.js';
export * from './first-boot.js';
