// Builds the running agent: transport, guest-role session, dispatcher and bus; the Hello goes out first.

import './node18-compat.js';
import { spawn } from 'node:child_process';
import { BASE_PAYLOAD, FEATURE_PUT_READY, MAX_PAYLOAD, createSession, type Hello, type Session, type Stream } from '@lodge/api/guest';
import { connectBusToHost } from './bus-bridge.js';
import { listenBusSocket, type BusSocketServer } from './bus-socket.js';
import { Bus } from './bus.js';
import { createDispatcher } from './dispatcher.js';
import { describe, logError } from './log.js';
import type { LineContext, OpContext } from './op-context.js';
import { openPortTransport } from './port-transport.js';
import { DEFAULT_PATH } from './program-path.js';
import { openRelayTransport } from './relay-transport.js';
import { openSocketTransport } from './socket-transport.js';
import { Spawner } from './spawner.js';
import type { Transport, TransportHandlers } from './transport.js';
import { currentUser, type UserDbPaths } from './user-db.js';
import { AGENT_VERSION } from './version.js';
import { openVsockTransport } from './vsock-transport.js';

export type AgentPort =
  | { kind: 'device'; path: string }
  | { kind: 'socket'; path: string }
  | { kind: 'fifo'; input: string; output: string }
  /** `socat`: the program to run; `address`: socat's listen address (tests: a unix socket). */
  | { kind: 'vsock'; socat?: string; address?: string };

/** vsock served next to the port: the host prefers it where it has vhost-vsock, the port stays the fallback. */
export interface SecondVsock {
  socat?: string;
  address?: string;
  /** Started once the port's session is ready, or after this long without (default 2 s): start-up stays lean. */
  startAfterMs?: number;
}

export interface AgentOptions {
  port: AgentPort;
  /** Also serve vsock (the guest has a vsock device); each transport has its own session. */
  vsock?: SecondVsock;
  /** The bus socket; none when undefined. */
  busSocket?: string;
  ptyDir: string;
  userDb?: UserDbPaths;
  drainTimeoutMs?: number;
  run?: OpContext['run'];
  helloIntervalMs?: number;
  /** lodge-spawn, the fork server exec starts its programs through; none: exec uses Node's spawn. */
  spawner?: { binary: string };
  /** lodge-port, the C relay the port (device or FIFO pair) is read and written through; none: a reader thread. */
  relay?: { binary: string };
  /** The transport broke for good; the command line exits (init respawns it). */
  onFatal?(error: Error): void;
}

export interface Agent {
  /** The session on `port`. */
  session: Session;
  transport: Transport;
  /** The vsock session next to the port, once started. */
  readonly vsock: { session: Session; transport: Transport } | undefined;
  bus: Bus;
  /** lodge-spawn once it is up (undefined: none configured, or it could not start). */
  spawner: Promise<Spawner | undefined>;
  close(): Promise<void>;
}

const VSOCK_START_MS = 2000;

export async function startAgent(options: AgentOptions): Promise<Agent> {
  const bus = new Bus();
  const ctx: OpContext = { ptyDir: options.ptyDir, bus, run: options.run ?? runCommand, ...(options.userDb ? { userDb: options.userDb } : {}) };
  const onOpen = createDispatcher(ctx);
  let vsock: Line | undefined;
  let startTimer: NodeJS.Timeout | undefined;
  let closed = false;
  const startVsock = (): void => {
    clearTimeout(startTimer);
    if (vsock || closed || !options.vsock) return;
    const v = options.vsock;
    vsock = openLine(options, onOpen, { kind: 'vsock', socat: v.socat, address: v.address }, (error) => {
      // Not fatal: the port still serves the host.
      logError(`vsock: ${error.message}; serving the port only`);
      vsock?.transport.close();
    });
  };
  // Each time the port's session is ready: the relay may run plain execs itself (its session ended with the last one).
  const onPortReady = (peer: Hello): void => {
    port.transport.plane?.fastExec(Math.min(MAX_PAYLOAD, Math.max(BASE_PAYLOAD, peer.maxPayload ?? BASE_PAYLOAD)), currentUser(ctx.userDb), DEFAULT_PATH);
    setImmediate(startVsock);
  };
  // Each time it ends: the relay's execs were the session's (it sees the host's Hellos and end-of-file itself, not all).
  const onPortReset = (): void => port.transport.plane?.endExec();
  const port: Line = openLine(options, onOpen, options.port, options.onFatal ?? ((e: Error) => logError(e.message)), onPortReady, onPortReset);
  // After the transport: the Hello is not held up; execs before the spawner is up use Node's spawn.
  const spawning = options.spawner ? startSpawner(options.spawner).then((s) => s && (ctx.spawner = s)) : Promise.resolve(undefined);
  if (options.vsock) startTimer = setTimeout(startVsock, options.vsock.startAfterMs ?? VSOCK_START_MS);
  // Guest publishes go to the host over vsock when that session is up, else over the port.
  connectBusToHost(bus, () => (vsock?.session.ready ? vsock.session : port.session));
  let server: BusSocketServer | undefined;
  if (options.busSocket) {
    try {
      server = await listenBusSocket({ path: options.busSocket, bus, ...(options.drainTimeoutMs ? { drainTimeoutMs: options.drainTimeoutMs } : {}) });
    } catch (error) {
      logError(`bus socket ${options.busSocket}: ${describe(error)}`);
    }
  }
  return {
    session: port.session,
    transport: port.transport,
    get vsock() {
      return vsock;
    },
    bus,
    spawner: spawning,
    async close() {
      closed = true;
      clearTimeout(startTimer);
      for (const line of [port, vsock]) {
        line?.session.close();
        line?.transport.close();
      }
      bus.setForwarder(undefined);
      await server?.close();
      await (await spawning)?.close();
    },
  };
}

interface Line {
  session: Session;
  transport: Transport;
}

/** A guest-role session on one transport; both lines share the dispatcher, so either serves every operation. */
function openLine(
  options: AgentOptions,
  onOpen: (stream: Stream, request: unknown, line: LineContext) => void,
  port: AgentPort,
  onFatal: (error: Error) => void,
  onReady?: (peer: Hello) => void,
  onReset?: () => void,
): Line {
  let transport: Transport | undefined;
  const session = createSession({
    role: 'guest',
    agent: { version: AGENT_VERSION, pid: process.pid },
    write: (bytes, written) => transport ? transport.write(bytes, written) : (written?.(), true),
    writeCallbacks: true,
    // Through lodge-port the host's frames are 256 KiB: 4× fewer frames, Window updates and events to handle in JS,
    // for one copy of each (split across 64 KiB socket reads). The worker reader hands the parser 256 KiB batches:
    // there 64 KiB frames are split (and copied) less often. We send 256 KiB either way.
    maxPayload: options.relay && (port.kind === 'device' || port.kind === 'fifo') ? MAX_PAYLOAD : BASE_PAYLOAD,
    // Every files.put answers a big file's entry with `ready` (through lodge-port or not).
    features: [FEATURE_PUT_READY],
    onOpen: (stream, request) => onOpen(stream, request, {
      plane: transport?.plane,
      peerMaxPayload: session.peer?.maxPayload ?? BASE_PAYLOAD,
      peerFeatures: session.peer?.features ?? [],
    }),
    ...(onReady ? { onReady } : {}),
    ...(onReset ? { onReset } : {}),
    ...(options.helloIntervalMs !== undefined ? { helloIntervalMs: options.helloIntervalMs } : {}),
  });
  const handlers: TransportHandlers = {
    onConnect: () => session.connect(),
    onData: (chunk) => session.receive(chunk),
    onDisconnect: (reason) => session.disconnect(reason),
    onDrain: () => session.drain(),
    onFatal,
  };
  transport = openTransport(port, handlers, options.relay);
  return { session, transport };
}

async function startSpawner(o: { binary: string }): Promise<Spawner | undefined> {
  try {
    return Spawner.start(o.binary);
  } catch (error) {
    logError(`lodge-spawn ${o.binary}: ${describe(error)}; exec uses Node's spawn`);
    return undefined;
  }
}

function openTransport(port: AgentPort, handlers: TransportHandlers, relay?: { binary: string }): Transport {
  switch (port.kind) {
    case 'device':
    case 'fifo': {
      const paths = port.kind === 'device' ? { device: port.path } : { input: port.input, output: port.output };
      if (!relay) return openPortTransport(paths, handlers);
      const args = port.kind === 'device' ? [port.path] : [port.input, port.output];
      return openRelayTransport({ binary: relay.binary, args, fallback: (h) => openPortTransport(paths, h) }, handlers);
    }
    case 'socket': return openSocketTransport(port.path, handlers);
    case 'vsock': return openVsockTransport(handlers, port.socat, port.address);
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
