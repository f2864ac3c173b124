// AF_VSOCK port 7070 through `socat VSOCK-LISTEN:7070,reuseaddr STDIO` (Node has no AF_VSOCK).
// Tested with the listen address pointed at a unix socket; AF_VSOCK itself has not run (no vhost-vsock on the dev host).

import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { AGENT_VSOCK_PORT } from '@lodge/api/guest';
import type { Transport, TransportHandlers } from './transport.js';

const RESPAWN_MS = 200;
/** A socat that ends without a host having connected (no vsock transport, bind refused) waits longer each time. */
const MAX_RESPAWN_MS = 30_000;

export const VSOCK_LISTEN = `VSOCK-LISTEN:${AGENT_VSOCK_PORT},reuseaddr`;

/** One socat per connection: it exits when the host disconnects and is started again to listen. */
export function openVsockTransport(handlers: TransportHandlers, socat = 'socat', address = VSOCK_LISTEN): Transport {
  let child: ChildProcess | undefined;
  let connected = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let respawnMs = RESPAWN_MS;
  const stats = { bytesIn: 0, bytesOut: 0, writes: 0, reads: 0 };

  const argv = ['-b', '65536', address, 'STDIO'];
  // A socat waiting in accept() never sees its stdin close: one left by a killed agent would hold the port.
  killOrphans(argv);
  const listen = (): void => {
    timer = undefined;
    if (closed) return;
    const c = spawn(socat, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
    child = c;
    c.stdout?.on('data', (chunk: Buffer) => {
      stats.reads++;
      stats.bytesIn += chunk.length;
      // socat reports no accept(): the first bytes from the host mean a host is there.
      if (!connected) {
        connected = true;
        respawnMs = RESPAWN_MS;
        handlers.onConnect();
      }
      handlers.onData(chunk);
    });
    c.stdin?.on('drain', () => handlers.onDrain());
    c.stdin?.on('error', () => undefined);
    c.on('error', (error) => handlers.onFatal(new Error(`socat for vsock: ${error.message}`)));
    c.on('close', () => {
      if (child === c) child = undefined;
      const wait = respawnMs;
      if (connected) {
        connected = false;
        handlers.onDisconnect('the vsock connection closed');
      } else {
        respawnMs = Math.min(respawnMs * 2, MAX_RESPAWN_MS);
      }
      if (!closed) timer = setTimeout(listen, wait);
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

/** Kills listeners an earlier agent left: processes running exactly our socat arguments (only the agent starts those). */
function killOrphans(argv: string[], proc = '/proc'): void {
  const tail = `${argv.join('\0')}\0`;
  for (const pid of readdirSync(proc)) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      const cmdline = readFileSync(`${proc}/${pid}/cmdline`, 'latin1');
      if (cmdline.endsWith(`\0${tail}`) && /(^|\/)socat$/.test(cmdline.slice(0, cmdline.indexOf('\0')))) process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone meanwhile, or not ours to kill
    }
  }
}
