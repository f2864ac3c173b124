import { API, LodgeError, type BusMessage, type PublishReceipt } from '@lodge/api/lite';
import { errorFromBody, httpRequest } from './http-transport.js';
import { Deferred } from './deferred.js';
import { SocketInbox } from './socket-inbox.js';
import { openWebSocket } from './ws-connect.js';

export interface Subscription {
  /** Stops listening; `closed` then resolves. */
  close(): void;
  /** Resolves when the subscription ends normally; rejects when lodged drops it (VM stopped, error). */
  readonly closed: Promise<void>;
}

/** The body of a received message next to the message itself; a returned promise holds back the next one. */
export type BusListener = (message: BusMessage, body: Buffer) => void | Promise<void>;

/** Checked here so a bad topic or an oversized body fails before anything is sent. */
export async function checkMessage(topic: string, body?: Buffer): Promise<void> {
  // Loaded on use: the guest protocol module is more than the two constants needed here.
  const { MAX_MESSAGE_BYTES, isTopic } = await import('@lodge/api/guest');
  if (!isTopic(topic)) {
    throw new LodgeError('invalid_argument', `topic "${topic}" is not valid`, {
      hint: 'a topic is a letter or digit, then up to 127 letters, digits or "_ . : / -"',
    });
  }
  if (body && body.length > MAX_MESSAGE_BYTES) {
    throw new LodgeError('invalid_argument', `a message body is at most ${MAX_MESSAGE_BYTES} bytes; this one has ${body.length}`);
  }
}

const asBuffer = (body: Buffer | string): Buffer => (typeof body === 'string' ? Buffer.from(body, 'utf8') : body);

/** Publishes one message to the VM's bus; resolves with how many subscribers got it. */
export async function publish(socketPath: string, name: string, topic: string, body: Buffer | string): Promise<PublishReceipt> {
  const raw = asBuffer(body);
  await checkMessage(topic, raw);
  const res = await httpRequest(socketPath, { method: 'POST', path: API.vmBus(name, topic), raw });
  if (res.status >= 400) throw errorFromBody(res.status, res.body);
  return JSON.parse(res.body.toString('utf8')) as PublishReceipt;
}

/** Publishes with a reply inbox and resolves with the first reply's body (the daemon times out after timeoutMs). */
export async function request(socketPath: string, name: string, topic: string, body: Buffer | string, timeoutMs: number): Promise<Buffer> {
  const raw = asBuffer(body);
  await checkMessage(topic, raw);
  const path = `${API.vmBus(name, topic)}?request=1&timeoutMs=${Math.max(0, Math.round(timeoutMs))}`;
  const res = await httpRequest(socketPath, { method: 'POST', path, raw });
  if (res.status >= 400) throw errorFromBody(res.status, res.body);
  return res.body;
}

function jsonOrNull(data: Buffer): unknown {
  try {
    return JSON.parse(data.toString('utf8'));
  } catch {
    return null;
  }
}

/** Decodes a bus message, refusing one that does not have the documented shape. */
export function busMessageOf(data: Buffer, what: string): BusMessage {
  const msg = jsonOrNull(data) as Partial<Record<keyof BusMessage, unknown>> | null;
  if (typeof msg?.topic !== 'string' || typeof msg.data !== 'string' || !['string', 'undefined'].includes(typeof msg.replyTo)) {
    throw new LodgeError('internal', `${what}: lodged sent something that is not a bus message`);
  }
  return { topic: msg.topic, data: msg.data, ...(typeof msg.replyTo === 'string' ? { replyTo: msg.replyTo } : {}) };
}

/** Listens to a topic of the VM's bus until close() or until lodged ends the subscription. */
export async function subscribe(socketPath: string, name: string, topic: string, onMessage: BusListener): Promise<Subscription> {
  await checkMessage(topic);
  const what = `listening on ${name}/${topic}`;
  const ended = new Deferred<void>();
  let closing = false;
  const inbox = new SocketInbox({
    message(data, isBinary) {
      if (isBinary) throw new LodgeError('internal', `${what}: lodged sent a binary message`);
      const msg = busMessageOf(data, what);
      return onMessage(msg, Buffer.from(msg.data, 'base64'));
    },
    closed(code, reason) {
      if (closing || code === 1000) ended.resolve();
      else ended.reject(new LodgeError('internal', `${what}: lodged ended the subscription (${reason || `code ${code}`})`));
    },
    failed: (err) => ended.reject(err),
  });
  const ws = await openWebSocket(socketPath, API.vmBus(name, topic), inbox.push);
  inbox.bind(ws);
  return {
    close() {
      closing = true;
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(1000);
    },
    closed: ended.promise,
  };
}
