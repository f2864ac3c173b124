// A unix socket to the host (host-side tests, `--port /path/to.sock`): reconnects every 100 ms while it is gone.

import { connect, type Socket } from 'node:net';
import { writeToStream, type Transport, type TransportHandlers } from './transport.js';

const RETRY_MS = 100;

export function openSocketTransport(path: string, handlers: TransportHandlers): Transport {
  let socket: Socket | undefined;
  let connected = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const stats = { bytesIn: 0, bytesOut: 0, writes: 0, reads: 0 };

  const dial = (): void => {
    timer = undefined;
    if (closed) return;
    const s = connect(path);
    socket = s;
    s.setNoDelay?.(true);
    s.on('connect', () => {
      connected = true;
      handlers.onConnect();
    });
    s.on('data', (chunk: Buffer) => {
      stats.reads++;
      stats.bytesIn += chunk.length;
      handlers.onData(chunk);
    });
    s.on('drain', () => handlers.onDrain());
    s.on('error', () => {
      // 'close' follows and retries.
    });
    s.on('close', () => {
      if (socket === s) socket = undefined;
      if (connected) {
        connected = false;
        handlers.onDisconnect('the host closed the socket');
      }
      if (!closed) timer = setTimeout(dial, RETRY_MS);
    });
  };
  dial();

  return {
    write: (bytes, written) => writeToStream(socket, connected, stats, bytes, written),
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      socket?.destroy();
    },
    stats,
  };
}
