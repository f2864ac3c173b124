import { chmod, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { LodgeError } from '@lodge/api';
import type { Services } from '../core/services.js';
import { httpApp } from './http-app.js';
import { attachWebSockets } from './ws-gateway.js';

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection(path);
    sock.once('connect', () => (sock.destroy(), resolve(true)));
    sock.once('error', () => resolve(false));
  });
}

/** Serves the API on a unix socket only its owner can open (0600 from the moment it exists). */
export async function listenApi(s: Services, socketPath: string): Promise<{ close(): Promise<void> }> {
  if (await socketAnswers(socketPath)) {
    throw new LodgeError('conflict', `another lodged is already serving ${socketPath}`, { hint: 'stop it first, or use another LODGE_HOME' });
  }
  await rm(socketPath, { force: true }); // a stale socket left by a killed daemon
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
