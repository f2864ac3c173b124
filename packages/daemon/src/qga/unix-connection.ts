import { createConnection, type Socket } from 'node:net';
import { PendingReply } from './pending-reply.js';
import { qgaErrors } from './qga-errors.js';

/** Connects to QEMU's chardev socket by `deadline` (epoch ms); the socket is destroyed on failure. */
export async function openConnection(path: string, command: string, deadline: number): Promise<Socket> {
  const socket = createConnection(path);
  const pending = new PendingReply(command, deadline - Date.now());
  socket.once('connect', () => pending.resolve(undefined));
  socket.once('error', (err: NodeJS.ErrnoException) => pending.reject(qgaErrors.connectFailed(path, err)));
  try {
    await pending.promise;
    return socket;
  } catch (err) {
    socket.destroy();
    throw err;
  }
}
