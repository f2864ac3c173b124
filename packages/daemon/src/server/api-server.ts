import { chmod, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import type { Services } from '../core/services.js';
import { httpApp } from './http-app.js';
import { attachWebSockets } from './ws-gateway.js';

/**
 * Serves the API on a unix socket only its owner can open (0600 from the moment it exists).
 * The caller holds the daemon lock, so a socket already there is a stale one left by a killed daemon.
 */
export async function listenApi(s: Services, socketPath: string): Promise<{ close(): Promise<void> }> {
  await rm(socketPath, { force: true });
  const server = createAdaptorServer({ fetch: httpApp(s).fetch }) as Server;
  const wss = attachWebSockets(server, s);
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, resolve);
    });
  } finally {
    process.umask(oldMask);
  }
  await chmod(socketPath, 0o600);
  return {
    async close() {
      for (const ws of wss.clients) ws.terminate();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(socketPath, { force: true });
    },
  };
}
