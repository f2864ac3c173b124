// The agent's ends of one lodge-spawn slot: the pipes of a child's stdin, stdout and stderr, opened through /proc.

import { closeSync, constants, openSync } from 'node:fs';
import { Socket } from 'node:net';

export interface Slot {
  id: number;
  /** The read ends of the child's stdout and stderr (libuv pipe handles: evented reads). */
  stdout: Socket;
  stderr: Socket;
  /**
   * The write end of the child's stdin, opened when an exec wants it (before "x": lodge-spawn still holds the pipe).
   * Most execs have no stdin: no open and no socket to make then. Throws if lodge-spawn is gone.
   */
  openStdin(): Socket;
  close(): void;
}

function openEnd(spawnerPid: number, fd: number, flags: number): number {
  // Opening an anonymous pipe through /proc never blocks (unlike a named pipe) and gives a new file of the same pipe.
  return openSync(`/proc/${spawnerPid}/fd/${fd}`, flags | constants.O_NONBLOCK);
}

function wrap(fd: number, readable: boolean): Socket {
  const socket = new Socket({ fd, readable, writable: !readable });
  socket.on('error', () => undefined);
  return socket;
}

/** Opens lodge-spawn's fds `fds` (stdin's write end, stdout's and stderr's read ends) as our own: Node cannot receive fds. */
export function openSlot(spawnerPid: number, id: number, fds: [number, number, number]): Slot {
  const out = openEnd(spawnerPid, fds[1], constants.O_RDONLY);
  let err: number;
  try {
    err = openEnd(spawnerPid, fds[2], constants.O_RDONLY);
  } catch (error) {
    closeSync(out);
    throw error;
  }
  const [stdout, stderr] = [wrap(out, true), wrap(err, true)];
  let stdin: Socket | undefined;
  return {
    id,
    stdout,
    stderr,
    openStdin: () => (stdin ??= wrap(openEnd(spawnerPid, fds[0], constants.O_WRONLY), false)),
    close: () => [stdin, stdout, stderr].forEach((s) => s?.destroy()),
  };
}
