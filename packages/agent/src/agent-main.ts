// Builds the running agent: transport, guest-role session, dispatcher and bus; the Hello goes out first.

import './node18-compat.js';
import { spawn } from 'node:child_process';
import { createSession, type Session } from '@lodge/api/guest';
import { connectBusToHost } from './bus-bridge.js';
import { listenBusSocket, type BusSocketServer } from './bus-socket.js';
import { Bus } from './bus.js';
import { createDispatcher } from './dispatcher.js';
import { describe, logError } from './log.js';
import type { OpContext } from './op-context.js';
import { openPortTransport } from './port-transport.js';
import { openSocketTransport } from './socket-transport.js';
import { Spawner } from './spawner.js';
import type { Transport, TransportHandlers } from './transport.js';
import type { UserDbPaths } from './user-db.js';
import { AGENT_VERSION } from './version.js';
import { openVsockTransport } from './vsock-transport.js';

export type AgentPort =
  | { kind: 'device'; path: string }
  | { kind: 'socket'; path: string }
  | { kind: 'fifo'; input: string; output: string }
  /** `socat`: the program to run (tests put a stand-in here). */
  | { kind: 'vsock'; socat?: string };

export interface AgentOptions {
  port: AgentPort;
  /** The bus socket; none when undefined. */
  busSocket?: string;
  ptyDir: string;
  userDb?: UserDbPaths;
  drainTimeoutMs?: number;
  run?: OpContext['run'];
  helloIntervalMs?: number;
  /** lodge-spawn, the fork server exec starts its programs through; none: exec uses Node's spawn. */
  spawner?: { binary: string };
  /** The transport broke for good; the command line exits (init respawns it). */
  onFatal?(error: Error): void;
}

export interface Agent {
  session: Session;
  transport: Transport;
  bus: Bus;
  /** lodge-spawn once it is up (undefined: none configured, or it could not start). */
  spawner: Promise<Spawner | undefined>;
  close(): Promise<void>;
}

export async function startAgent(options: AgentOptions): Promise<Agent> {
  let transport: Transport | undefined;
  const bus = new Bus();
  const ctx: OpContext = { ptyDir: options.ptyDir, bus, run: options.run ?? runCommand, ...(options.userDb ? { userDb: options.userDb } : {}) };
  const session = createSession({
    role: 'guest',
    agent: { version: AGENT_VERSION, pid: process.pid },
    write: (bytes) => transport?.write(bytes) ?? true,
    onOpen: createDispatcher(ctx),
    ...(options.helloIntervalMs !== undefined ? { helloIntervalMs: options.helloIntervalMs } : {}),
  });
  const handlers: TransportHandlers = {
    onConnect: () => session.connect(),
    onData: (chunk) => session.receive(chunk),
    onDisconnect: (reason) => session.disconnect(reason),
    onDrain: () => session.drain(),
    onFatal: (error) => (options.onFatal ?? ((e: Error) => logError(e.message)))(error),
  };
  transport = openTransport(options.port, handlers);
  // After the transport: the Hello is not held up; execs before the spawner is up use Node's spawn.
  const spawning = options.spawner ? startSpawner(options.spawner).then((s) => s && (ctx.spawner = s)) : Promise.resolve(undefined);
  connectBusToHost(bus, () => session);
  let server: BusSocketServer | undefined;
  if (options.busSocket) {
    try {
      server = await listenBusSocket({ path: options.busSocket, bus, ...(options.drainTimeoutMs ? { drainTimeoutMs: options.drainTimeoutMs } : {}) });
    } catch (error) {
      logError(`bus socket ${options.busSocket}: ${describe(error)}`);
    }
  }
  const t = transport;
  return {
    session,
    transport: t,
    bus,
    spawner: spawning,
    async close() {
      session.close();
      t.close();
      bus.setForwarder(undefined);
      await server?.close();
      await (await spawning)?.close();
    },
  };
}

async function startSpawner(o: { binary: string }): Promise<Spawner | undefined> {
  try {
    return Spawner.start(o.binary);
  } catch (error) {
    logError(`lodge-spawn ${o.binary}: ${describe(error)}; exec uses Node's spawn`);
    return undefined;
  }
}

function openTransport(port: AgentPort, handlers: TransportHandlers): Transport {
  switch (port.kind) {
    case 'device': return openPortTransport({ device: port.path }, handlers);
    case 'fifo': return openPortTransport({ input: port.input, output: port.output }, handlers);
    case 'socket': return openSocketTransport(port.path, handlers);
    case 'vsock': return openVsockTransport(handlers, port.socat);
  }
}

/** Runs a system command, collecting stderr for the error message. */
function runCommand(command: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      if (stderr.length < 4096) stderr += c.toString();
    });
    child.on('error', (error) => resolve({ code: null, stderr: error.message }));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}
