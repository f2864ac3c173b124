// The agent's ends of one lodge-spawn slot: the pipes of a child's stdin, stdout and stderr, opened through /proc.

import { closeSync, constants, openSync } from 'node:fs';
import { Socket } from 'node:net';

export interface Slot {
  id: number;
  /** The write end of the child's stdin; the read ends of its stdout and stderr (libuv pipe handles: evented reads). */
  stdin: Socket;
  stdout: Socket;
  stderr: Socket;
  close(): void;
}

/** Opens lodge-spawn's fds `fds` (stdin's write end, stdout's and stderr's read ends) as our own: Node cannot receive fds. */
export function openSlot(spawnerPid: number, id: number, fds: [number, number, number]): Slot {
  const own: number[] = [];
  try {
    // Opening an anonymous pipe through /proc never blocks (unlike a named pipe) and gives a new file of the same pipe.
    fds.forEach((fd, ch) => own.push(openSync(`/proc/${spawnerPid}/fd/${fd}`, (ch === 0 ? constants.O_WRONLY : constants.O_RDONLY) | constants.O_NONBLOCK)));
  } catch (error) {
    for (const fd of own) closeSync(fd);
    throw error;
  }
  const [stdin, stdout, stderr] = own.map((fd, ch) => new Socket({ fd, readable: ch !== 0, writable: ch === 0 })) as [Socket, Socket, Socket];
  for (const s of [stdin, stdout, stderr]) s.on('error', () => undefined);
  return { id, stdin, stdout, stderr, close: () => [stdin, stdout, stderr].forEach((s) => s.destroy()) };
}
