// The agent's end of one lodge-spawn stdin slot: the write end of a child's stdin pipe, opened through /proc.

import { constants, openSync } from 'node:fs';
import { Socket } from 'node:net';

export interface Slot {
  id: number;
  /** The write end of the child's stdin (a libuv pipe handle); opened before "x", while lodge-spawn still holds the pipe. */
  stdin: Socket;
  close(): void;
}

/** Opens lodge-spawn's fd `fd` (a stdin pipe's write end) as our own: Node cannot receive fds. */
export function openSlot(spawnerPid: number, id: number, fd: number): Slot {
  // Opening an anonymous pipe through /proc never blocks (unlike a named pipe) and gives a new file of the same pipe.
  const stdin = new Socket({ fd: openSync(`/proc/${spawnerPid}/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK), readable: false, writable: true });
  stdin.on('error', () => undefined);
  return { id, stdin, close: () => stdin.destroy() };
}
