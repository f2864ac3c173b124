import { qmpErrors } from './errors.js';

export { LineSplitter, MAX_LINE_BYTES } from './line-splitter.js';

export interface QmpGreeting {
  version: { qemu: { major: number; minor: number; micro: number }; package?: string };
  capabilities: string[];
}
export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}
export interface QmpErrorBody {
  class: string;
  desc: string;
}
export interface QmpRequest {
  execute: string;
  arguments?: Record<string, unknown> | undefined;
  id: string;
}

/** Everything QEMU can send on a QMP socket; `id` is absent only when QEMU could not parse the request. */
export type QmpMessage =
  | { kind: 'greeting'; greeting: QmpGreeting }
  | { kind: 'return'; id: string | undefined; value: unknown }
  | { kind: 'error'; id: string | undefined; error: QmpErrorBody }
  | { kind: 'event'; event: QmpEvent };

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => Number.isInteger(v);

/** Classifies one line; throws a protocol QmpError for anything that is not a well-formed QMP message. */
export function parseMessage(line: string): QmpMessage {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    throw qmpErrors.protocol(`invalid JSON from QEMU: ${JSON.stringify(line.slice(0, 80))}`);
  }
  if (!isObject(msg)) throw qmpErrors.protocol(`expected a JSON object, got ${JSON.stringify(line.slice(0, 80))}`);
  if ('QMP' in msg) return { kind: 'greeting', greeting: parseGreeting(msg.QMP) };
  if (typeof msg.event === 'string') return { kind: 'event', event: parseEvent(msg) };
  const id = parseId(msg.id);
  if ('return' in msg) return { kind: 'return', id, value: msg.return };
  const err = msg.error;
  if (isObject(err) && typeof err.class === 'string' && typeof err.desc === 'string') {
    return { kind: 'error', id, error: { class: err.class, desc: err.desc } };
  }
  throw qmpErrors.protocol(`unrecognised message ${JSON.stringify(line.slice(0, 80))}`);
}

// We only ever send string ids, so any other id type means the reply is not ours.
function parseId(id: unknown): string | undefined {
  if (id === undefined || typeof id === 'string') return id;
  throw qmpErrors.protocol(`reply with a non-string id ${JSON.stringify(id)}`);
}

function parseGreeting(body: unknown): QmpGreeting {
  const version = isObject(body) && isObject(body.version) ? body.version : undefined;
  const qemu = version && isObject(version.qemu) ? version.qemu : undefined;
  const caps = isObject(body) ? body.capabilities : undefined;
  if (!qemu || !isInt(qemu.major) || !isInt(qemu.minor) || !isInt(qemu.micro)) throw qmpErrors.protocol('greeting without a QEMU version');
  if (!Array.isArray(caps) || !caps.every((c) => typeof c === 'string')) throw qmpErrors.protocol('greeting without capabilities');
  const pkg = typeof version?.package === 'string' ? { package: version.package } : {};
  return { version: { qemu: { major: qemu.major, minor: qemu.minor, micro: qemu.micro }, ...pkg }, capabilities: caps };
}

function parseEvent(msg: Json): QmpEvent {
  const ev: QmpEvent = { event: msg.event as string };
  if (isObject(msg.data)) ev.data = msg.data;
  const ts = msg.timestamp;
  if (isObject(ts) && isInt(ts.seconds) && isInt(ts.microseconds)) ev.timestamp = { seconds: ts.seconds, microseconds: ts.microseconds };
  return ev;
}

/** One request line; JSON.stringify escapes newlines inside strings, so the framing cannot break. */
export function serializeCommand(req: QmpRequest): string {
  return `${JSON.stringify(req)}\n`;
}

/** Ids only need to be unique per connection: replies are matched on the socket that carried the request. */
export function idSequence(prefix = 'lodge'): () => string {
  let n = 0;
  return () => `${prefix}-${++n}`;
}
