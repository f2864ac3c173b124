import type { WebSocket } from 'ws';
import { LodgeError } from '@lodge/api/lite';

export interface InboxHandlers {
  /** One message; a returned promise holds back the next message and pauses the socket until it settles. */
  message(data: Buffer, isBinary: boolean): void | Promise<void>;
  /** The socket closed (or failed); called after every message before it was handled. */
  closed(code: number, reason: string): void;
  /** A message handler threw: the rest is dropped and the socket is terminated. */
  failed(err: unknown): void;
}

type Item = { data: Buffer; isBinary: boolean } | { code: number; reason: string };

/**
 * Handles a WebSocket's messages one at a time, in order. ws keeps parsing what it has already read, so
 * pausing alone is not enough: messages that still arrive wait here (at most one socket read's worth).
 */
export class SocketInbox {
  private readonly queue: Item[] = [];
  private running = false;
  private broken = false;
  private ws: WebSocket | undefined;
  private lastError: string | undefined;

  constructor(private readonly handlers: InboxHandlers) {}

  /** Fed by the socket's message listener, which exists before the socket opens. */
  readonly push = (data: Buffer, isBinary: boolean): void => this.enqueue({ data, isBinary });

  private readonly onClose = (code: number, reason: Buffer): void => this.enqueue({ code, reason: reason.toString('utf8') });
  // 'close' follows an 'error'; only the reason is worth keeping
  private readonly onError = (err: Error): void => void (this.lastError = err.message);

  bind(ws: WebSocket): this {
    this.ws = ws;
    ws.on('close', this.onClose);
    ws.on('error', this.onError);
    return this;
  }

  /** Lets go of the socket (which goes on serving others): nothing more of it reaches the handlers. */
  unbind(): void {
    this.ws?.off('close', this.onClose).off('error', this.onError);
    this.ws = undefined;
    this.broken = true;
  }

  private enqueue(item: Item): void {
    if (this.broken) return;
    this.queue.push(item);
    if (!this.running) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      for (let item = this.queue.shift(); item; item = this.queue.shift()) {
        if ('code' in item) {
          this.handlers.closed(item.code, item.reason || this.lastError || '');
          continue;
        }
        const pending = this.handlers.message(item.data, item.isBinary);
        if (pending) {
          this.ws?.pause();
          await pending;
        }
      }
    } catch (err) {
      this.broken = true;
      this.queue.length = 0;
      this.ws?.terminate();
      this.handlers.failed(err);
    } finally {
      this.running = false;
      if (!this.broken && this.ws?.isPaused) this.ws.resume();
    }
  }
}

/** A text message as JSON with a string `type`; anything else is the daemon breaking the protocol. */
export function parseText<T extends { type: string }>(data: Buffer, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    throw new LodgeError('internal', `${what}: the daemon sent a text message that is not JSON`);
  }
  if (typeof value !== 'object' || value === null || typeof (value as { type?: unknown }).type !== 'string') {
    throw new LodgeError('internal', `${what}: the daemon sent a message without a type`);
  }
  return value as T;
}
