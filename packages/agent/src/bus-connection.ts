// One client connection to the agent's bus socket: numbered requests and their answers, plus pushed messages.

import { connect, type Socket } from 'node:net';
import { MAX_MESSAGE_BYTES } from '@lodge/api/guest';
import { LineReader } from './line-reader.js';

export interface WireMessage {
  topic: string;
  replyTo?: string;
  data: string;
}

interface Waiter {
  resolve(value: Record<string, unknown>): void;
  reject(error: Error): void;
}

export class BusConnection {
  private readonly waiters = new Map<number, Waiter>();
  private nextId = 1;
  private failure: Error | undefined;

  private constructor(readonly socket: Socket, onMessage: ((m: WireMessage) => void) | undefined) {
    const reader = new LineReader(2 * MAX_MESSAGE_BYTES + 1024);
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const line of reader.push(chunk)) {
          const value = JSON.parse(line) as Record<string, unknown>;
          if (!('ok' in value)) onMessage?.(value as unknown as WireMessage);
          else this.answer(value);
        }
      } catch (error) {
        socket.destroy(new Error(`the bus sent something unreadable: ${error instanceof Error ? error.message : String(error)}`));
      }
    });
    socket.on('error', (error) => (this.failure = error));
    socket.on('close', () => {
      const error = this.failure ?? new Error('the bus connection closed');
      for (const w of this.waiters.values()) w.reject(error);
      this.waiters.clear();
    });
    socket.unref();
  }

  static open(path: string, onMessage?: (m: WireMessage) => void): Promise<BusConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      socket.once('error', (error: NodeJS.ErrnoException) => {
        const hint = error.code === 'ENOENT' || error.code === 'ECONNREFUSED' ? ' (is lodge-agent running?)' : '';
        reject(new Error(`bus socket ${path}: ${error.message}${hint}`));
      });
      socket.once('connect', () => resolve(new BusConnection(socket, onMessage)));
    });
  }

  /** Sends one request; the socket keeps the process alive only while answers are outstanding. */
  call(request: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.socket.destroyed) return Promise.reject(this.failure ?? new Error('the bus connection is closed'));
    const id = this.nextId++;
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      this.waiters.set(id, { resolve, reject });
      this.socket.ref();
      this.socket.write(`${JSON.stringify({ id, ...request })}\n`);
    });
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }

  private answer(value: Record<string, unknown>): void {
    const id = typeof value.id === 'number' ? value.id : -1;
    const waiter = this.waiters.get(id);
    if (!waiter) return;
    this.waiters.delete(id);
    if (this.waiters.size === 0) this.socket.unref();
    if (value.ok === true) waiter.resolve(value);
    else waiter.reject(new Error(typeof value.error === 'string' ? value.error : 'the bus refused the request'));
  }
}
