// The bus's unix socket for guest programs: newline-delimited JSON requests, answers and subscribed messages.

import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { MAX_MESSAGE_BYTES } from '@lodge/api/guest';
import { checkBody, checkTopic, type Bus, type Delivery, type Subscriber } from './bus.js';
import { collectInfo } from './info-op.js';
import { LineReader } from './line-reader.js';
import { describe, logError } from './log.js';
import { asObject, int, type Fields } from './validate.js';

/** Requests a client may have in flight before the agent stops reading its socket. */
const MAX_PENDING = 16;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface BusSocketOptions {
  path: string;
  bus: Bus;
  /** A subscriber whose socket does not drain within this is dropped (default 30 s). */
  drainTimeoutMs?: number;
}

export interface BusSocketServer {
  /** Stops listening and drops every client. */
  close(): Promise<void>;
}

export async function listenBusSocket(options: BusSocketOptions): Promise<BusSocketServer> {
  mkdirSync(dirname(options.path), { recursive: true, mode: 0o755 });
  rmSync(options.path, { force: true });
  const clients = new Set<Socket>();
  const server: Server = createServer((socket) => {
    clients.add(socket);
    socket.on('close', () => clients.delete(socket));
    serveConnection(socket, options);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.path, () => resolve());
  });
  // Any guest user may publish and subscribe: the bus is the guest's own, like /tmp.
  chmodSync(options.path, 0o666);
  server.on('error', (error) => logError(`bus socket: ${error.message}`));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of clients) socket.destroy();
      }),
  };
}

function serveConnection(socket: Socket, options: BusSocketOptions): void {
  // Lines hold base64 (4/3 of the body) plus JSON: twice the message bound is enough.
  const reader = new LineReader(2 * MAX_MESSAGE_BYTES);
  const subscriptions = new Map<string, () => void>();
  const subscriber = new SocketSubscriber(socket, options.drainTimeoutMs ?? 30_000);
  let pending = 0;
  const send = (value: object): void => {
    if (!socket.destroyed) socket.write(`${JSON.stringify(value)}\n`);
  };
  const handle = async (line: string): Promise<void> => {
    let id: unknown;
    try {
      const fields = asObject(JSON.parse(line), 'request');
      id = fields.id;
      const answer = await runRequest(fields, options.bus, subscriptions, subscriber);
      send({ ...(id !== undefined ? { id } : {}), ok: true, ...answer });
    } catch (error) {
      send({ ...(id !== undefined ? { id } : {}), ok: false, error: describe(error) });
    }
  };
  socket.on('data', (chunk: Buffer) => {
    let lines: string[];
    try {
      lines = reader.push(chunk);
    } catch (error) {
      send({ ok: false, error: describe(error) });
      socket.destroy();
      return;
    }
    for (const line of lines) {
      if (line.trim() === '') continue;
      if (++pending >= MAX_PENDING) socket.pause();
      void handle(line).finally(() => {
        if (--pending < MAX_PENDING && !socket.destroyed) socket.resume();
      });
    }
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    for (const unsubscribe of subscriptions.values()) unsubscribe();
    subscriptions.clear();
  });
}


async function runRequest(fields: Fields, bus: Bus, subscriptions: Map<string, () => void>, subscriber: Subscriber): Promise<object> {
  switch (fields.op) {
    case 'publish': {
      const topic = checkTopic(fields.topic);
      const replyTo = fields.replyTo === undefined ? undefined : checkTopic(fields.replyTo, 'replyTo');
      const data = decodeData(fields.data);
      const delivered = await bus.publishLocal({ topic, data, ...(replyTo !== undefined ? { replyTo } : {}) });
      return { delivered };
    }
    case 'subscribe': {
      const topic = checkTopic(fields.topic);
      if (!subscriptions.has(topic)) subscriptions.set(topic, bus.subscribe(topic, subscriber));
      return {};
    }
    case 'unsubscribe': {
      const topic = checkTopic(fields.topic);
      subscriptions.get(topic)?.();
      subscriptions.delete(topic);
      return {};
    }
    case 'request': {
      const topic = checkTopic(fields.topic);
      const timeoutMs = int(fields, 'timeoutMs', { optional: true, min: 1, max: 3_600_000 }) ?? DEFAULT_REQUEST_TIMEOUT_MS;
      const reply = await bus.request({ topic, data: decodeData(fields.data) }, timeoutMs);
      return { topic: reply.topic, ...(reply.replyTo !== undefined ? { replyTo: reply.replyTo } : {}), data: reply.data.toString('base64') };
    }
    case 'info':
      return { info: collectInfo() };
    default:
      throw new Error(`unknown op ${JSON.stringify(fields.op)} (publish, subscribe, unsubscribe, request, info)`);
  }
}

function decodeData(value: unknown): Buffer {
  if (value === undefined) return Buffer.alloc(0);
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new Error('data must be base64');
  return checkBody(Buffer.from(value, 'base64'));
}

/** Writes messages to one client; a client that does not drain in time is dropped (back-pressure, bounded memory). */
class SocketSubscriber implements Subscriber {
  private drained: Promise<boolean> | undefined;

  constructor(private readonly socket: Socket, private readonly drainTimeoutMs: number) {}

  async deliver(message: Delivery): Promise<boolean> {
    if (this.socket.destroyed) return false;
    if (this.socket.write(message.line())) return true;
    return this.waitDrain();
  }

  private waitDrain(): Promise<boolean> {
    this.drained ??= new Promise<boolean>((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
        this.drained = undefined;
        resolve(ok);
      };
      const onDrain = (): void => done(true);
      const onClose = (): void => done(false);
      const timer = setTimeout(() => {
        logError(`bus: dropped a subscriber that did not read for ${this.drainTimeoutMs} ms`);
        this.socket.destroy();
        done(false);
      }, this.drainTimeoutMs);
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
    });
    return this.drained;
  }
}
