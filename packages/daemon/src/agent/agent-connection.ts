import { connect } from 'node:net';
import type { CorkableStream } from '@lodge/api/guest';

/**
 * A byte stream to the agent, as AgentLink drives it: a unix socket (net.Socket fits) or the socat bridge to vsock.
 * Corkable: AgentLink sends each tick's frames in one write (writeInTick).
 */
export interface AgentConnection extends CorkableStream {
  once(event: 'connect', listener: () => void): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'drain' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  /** False: wait for 'drain'. `written` is called once the bytes are out (or dropped with the connection). */
  write(bytes: Buffer, written?: () => void): boolean;
  /** Ends the connection and everything it holds (socket, child process); 'close' follows. */
  destroy(): void;
}

/** Opens a new connection; AgentLink calls it again after each close. */
export type AgentDial = () => AgentConnection;

export const dialUnix = (path: string): AgentDial => () => connect(path);
