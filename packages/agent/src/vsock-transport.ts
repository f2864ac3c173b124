// AF_VSOCK port 7070 through `socat VSOCK-LISTEN:7070,reuseaddr STDIO` (Node has no AF_VSOCK).
// UNTESTED: the development host has no /dev/vhost-vsock, so this path has never carried a frame.

import { spawn, type ChildProcess } from 'node:child_process';
import { AGENT_VSOCK_PORT } from '@lodge/api/guest';
import type { Transport, TransportHandlers } from './transport.js';

const RESPAWN_MS = 200;

/** One socat per connection: it exits when the host disconnects and is started again to listen. */
export function openVsockTransport(handlers: TransportHandlers, socat = 'socat'): Transport {
  let child: ChildProcess | undefined;
  let connected = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const stats = { bytesIn: 0, bytesOut: 0, writes: 0, reads: 0 };

  const listen = (): void => {
    timer = undefined;
    if (closed) return;
    const c = spawn(socat, [`VSOCK-LISTEN:${AGENT_VSOCK_PORT},reuseaddr`, 'STDIO'], { stdio: ['pipe', 'pipe', 'inherit'] });
    child = c;
    c.stdout?.on('data', (chunk: Buffer) => {
      stats.reads++;
      stats.bytesIn += chunk.length;
      // socat reports no accept(): the first bytes from the host mean a host is there.
      if (!connected) {
        connected = true;
        handlers.onConnect();
      }
      handlers.onData(chunk);
    });
    c.stdin?.on('drain', () => handlers.onDrain());
    c.stdin?.on('error', () => undefined);
    c.on('error', (error) => handlers.onFatal(new Error(`socat for vsock: ${error.message}`)));
    c.on('close', () => {
      if (child === c) child = undefined;
      if (connected) {
        connected = false;
        handlers.onDisconnect('the vsock connection closed');
      }
      if (!closed) timer = setTimeout(listen, RESPAWN_MS);
    });
  };
  listen();

  return {
    write(bytes, written) {
      if (!child?.stdin || !connected) {
        written?.();
        return true;
      }
      stats.writes++;
      stats.bytesOut += bytes.length;
      return child.stdin.write(bytes, written && (() => written()));
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      child?.kill('SIGKILL');
    },
    stats,
  };
}
