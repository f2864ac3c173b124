// What the agent needs from a byte pipe to the host: ordered bytes both ways, back-pressure, (re)connect events.

import type { Writable } from 'node:stream';
import { writeInTick } from '@lodge/api/guest';
import type { FilePlane } from './file-plane.js';

export interface TransportHandlers {
  /** The host end is (again) there: the session sends Hello. */
  onConnect(): void;
  /** Bytes from the host, in order. */
  onData(chunk: Buffer): void;
  /** The host end went away (end-of-file): streams fail; onConnect follows when it is back. */
  onDisconnect(reason: string): void;
  /** write() returned false earlier and the transport can take more now. */
  onDrain(): void;
  /** The transport is unusable (device vanished): the agent exits and init respawns it. */
  onFatal(error: Error): void;
}

export type TransportStats = { bytesIn: number; bytesOut: number; writes: number; reads: number };

/** A transport's write to its Node stream: dropped (and `written` called) while the host is away, else counted. */
export function writeToStream(out: Writable | undefined, connected: boolean, stats: TransportStats, bytes: Buffer, written?: () => void): boolean {
  if (!out || !connected) {
    written?.();
    return true;
  }
  stats.writes++;
  stats.bytesOut += bytes.length;
  return writeInTick(out, bytes, written);
}

export interface Transport {
  /** Queues bytes for the host (not copied); `written` is called once they are out or dropped. False: wait for onDrain. */
  write(bytes: Buffer, written?: () => void): boolean;
  /** Stops reading and writing, releases the fd, socket, worker or child. */
  close(): void;
  /** lodge-port's data plane while the relay runs (files' bytes in C); undefined: files go through JS. */
  readonly plane?: FilePlane | undefined;
  /** Counters for benchmarks and logs. */
  readonly stats: TransportStats;
}
