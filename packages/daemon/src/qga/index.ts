// The QEMU guest agent fallback: line reader → client (one call at a time, resync) → commands → GuestChannel.
export { createQgaChannel, type QgaChannel, type QgaChannelOptions } from './qga-channel.js';
export { QgaClient, DEFAULT_CALL_TIMEOUT_MS, type QgaClientOptions, type QgaCallOptions } from './qga-client.js';
export { QgaError, type QgaErrorReason } from './qga-errors.js';
export type { QgaLogger } from './qga-logger.js';
