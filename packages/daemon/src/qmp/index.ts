// The QMP client: protocol (framing, messages) → monitor (connection, ids, timeouts, events) → commands (typed).
export { QmpMonitor, type QmpConnectOptions, type QmpCallOptions } from './monitor.js';
export { QmpError, type QmpErrorReason } from './errors.js';
export { DEFAULT_TIMEOUT_MS } from './deadline.js';
export type { WaitForEventOptions } from './wait-for-event.js';
export type { QmpEvent, QmpGreeting, QmpErrorBody } from './protocol.js';
export * from './commands.js';
export * from './guest-commands.js';
export * from './block-commands.js';
