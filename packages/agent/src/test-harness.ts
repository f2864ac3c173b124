// Tests: an agent in this process wired to a host-role session through a unix socket in a temp folder.

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, open, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { Channel, createSession, type OpenRequest, type Session, type Stream } from '@lodge/api/guest';
import { startAgent, type Agent, type AgentOptions } from './agent-main.js';

export interface HostPublish {
  topic: string;
  replyTo?: string;
  data: Buffer;
}

export interface Harness {
  dir: string;
  host: Session;
  agent: Agent;
  busSocket: string;
  /** Publishes the guest forwarded to the host. */
  hostMessages: HostPublish[];
  /** What the host answers to guest publishes (its own subscribers). */
  hostDelivered: number;
  close(): Promise<void>;
}

/** The real lodge-spawn, compiled with the host's gcc as the image builder does (host and guest: Linux x86_64). */
export function compileSpawner(dir: string): string {
  const out = `${dir}/lodge-spawn`;
  execFileSync('gcc', ['-static', '-O2', '-o', out, new URL('../native/lodge-spawn.c', import.meta.url).pathname]);
  return out;
}

/** The real lodge-port, compiled likewise. */
export function compileRelay(dir: string): string {
  const out = `${dir}/lodge-port`;
  const source = (name: string): string => new URL(`../native/${name}`, import.meta.url).pathname;
  execFileSync('gcc', ['-static', '-O2', '-o', out, source('lodge-port.c'), source('port-exec.c')]);
  return out;
}

export async function startHarness(options: Partial<AgentOptions> = {}): Promise<Harness> {
  const dir = mkdtempSync(`${tmpdir()}/lodge-agent-test-`);
  chmodSync(dir, 0o755); // sessions run as other users must reach the pty folder, as under /run/lodge

  const sockPath = `${dir}/agent.sock`;
  let socket: Socket | undefined;
  const hostMessages: HostPublish[] = [];
  let readyResolve: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (readyResolve = resolve));
  const harness = { hostMessages, hostDelivered: 0 } as Harness;
  const host = createSession({
    role: 'host',
    write: (bytes) => socket?.write(bytes) ?? true,
    onOpen: (stream, request) => collectHostPublish(stream, request, harness),
    onReady: () => readyResolve(),
    helloIntervalMs: 200,
  });
  const server: Server = createServer((s) => {
    socket = s;
    s.on('data', (chunk: Buffer) => host.receive(chunk));
    s.on('drain', () => host.drain());
    s.on('error', () => undefined);
    s.on('close', () => host.disconnect('agent socket closed'));
    host.connect();
  });
  await new Promise<void>((resolve) => server.listen(sockPath, resolve));
  const busSocket = `${dir}/bus.sock`;
  const agent = await startAgent({ port: { kind: 'socket', path: sockPath }, busSocket, ptyDir: `${dir}/pty`, helloIntervalMs: 200, ...options });
  await ready;
  await agent.spawner; // the exec tests that ask for lodge-spawn must not start on Node's spawn meanwhile
  return Object.assign(harness, {
    dir,
    host,
    agent,
    busSocket,
    async close() {
      await agent.close();
      host.close();
      socket?.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

function collectHostPublish(stream: Stream, request: unknown, harness: Harness): void {
  const r = request as { op?: string; topic: string; replyTo?: string };
  if (r.op !== 'bus.publish') return stream.reset({ code: 'invalid_argument', message: 'host test: bus.publish only' });
  const parts: Buffer[] = [];
  stream.on('data', (channel, chunk) => {
    parts.push(Buffer.from(chunk));
    stream.consumed(channel, chunk.length);
  });
  stream.on('end', () => {
    harness.hostMessages.push({ topic: r.topic, data: Buffer.concat(parts), ...(r.replyTo ? { replyTo: r.replyTo } : {}) });
    stream.finish({ delivered: harness.hostDelivered });
  });
}

export interface RunResult {
  stdout: Buffer;
  stderr: Buffer;
  controls: unknown[];
  result?: unknown;
  error?: { code?: string; message: string; shellStatus?: number };
}

/** Opens a stream, feeds `stdin` (then Close ch 0), collects output, waits for the end. */
export async function run(host: Session, request: OpenRequest, stdin?: Buffer | string, onStream?: (s: Stream) => void): Promise<RunResult> {
  const stream = host.open(request);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const controls: unknown[] = [];
  stream.on('control', (m) => controls.push(m));
  stream.on('data', (channel, chunk) => {
    (channel === Channel.Error ? err : out).push(Buffer.from(chunk));
    stream.consumed(channel, chunk.length);
  });
  onStream?.(stream);
  if (stdin !== undefined) {
    void stream.write(Channel.Input, Buffer.from(stdin)).then(() => stream.end(Channel.Input), () => undefined);
  }
  const base = { stdout: Buffer.concat(out), stderr: Buffer.concat(err), controls };
  try {
    const result = await stream.result();
    return { ...base, stdout: Buffer.concat(out), stderr: Buffer.concat(err), result };
  } catch (error) {
    const e = error as { code?: string; message: string; shellStatus?: number };
    return { ...base, stdout: Buffer.concat(out), stderr: Buffer.concat(err), error: { code: e.code, message: e.message, shellStatus: e.shellStatus } } as RunResult;
  }
}

/** Polls `check` every `stepMs` until it holds; fails naming `what` after `timeoutMs`. */
export async function until(check: () => boolean, what: string, timeoutMs = 10_000, stepMs = 20): Promise<void> {
  for (let waited = 0; waited < timeoutMs && !check(); waited += stepMs) await new Promise((r) => setTimeout(r, stepMs));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

/** The writing end of a FIFO (the host's side of a test port) as a socket. */
export function openWriter(path: string): Promise<Socket> {
  return new Promise((resolve, reject) =>
    open(path, 'w', (error, fd) => (error ? reject(error) : resolve(new Socket({ fd, readable: false, writable: true })))),
  );
}

/** Alive and not a zombie (an orphan waits for whoever reaps it; busybox init in the guest): a zombie counts as gone. */
export function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Running processes (isRunning) of this machine whose command line is exactly `args`. */
export function processesRunning(args: string[]): number[] {
  const want = `${args.join('\0')}\0`;
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      return readFileSync(`/proc/${d}/cmdline`, 'utf8') === want && isRunning(Number(d));
    } catch {
      return false;
    }
  }).map(Number);
}
