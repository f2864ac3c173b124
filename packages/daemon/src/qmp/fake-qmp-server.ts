import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineSplitter } from './line-splitter.js';

// Test double for QEMU's QMP socket: greeting, capability negotiation, scriptable replies, events and misbehaviour.

export interface FakeRequest {
  execute: string;
  arguments?: Record<string, unknown>;
  id?: unknown;
}
/** A handler's result is sent as `{"return": value}`; throw or return a FakeQmpFailure for an error reply. */
export type FakeHandler = (args: Record<string, unknown> | undefined, req: FakeRequest) => unknown;
export class FakeQmpFailure {
  constructor(readonly errorClass: string, readonly desc: string) {}
}
/** Returned by a handler to send no reply at all (a hung QEMU). */
export const NO_REPLY = Symbol('no reply');
export interface FakeQmpServerOptions {
  /** The `{"QMP": …}` body; null never greets (a monitor already taken by another client). */
  greeting?: Record<string, unknown> | null;
}

export const FAKE_GREETING = { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: 'fake' }, capabilities: ['oob'] };

export class FakeQmpServer {
  readonly received: FakeRequest[] = [];
  readonly #handlers = new Map<string, FakeHandler>();
  readonly #clients = new Set<Socket>();
  readonly #waiters: Array<() => void> = [];

  private constructor(readonly path: string, private readonly dir: string, private readonly server: Server,
    private readonly greeting: Record<string, unknown> | null) {}

  static async start(opts: FakeQmpServerOptions = {}): Promise<FakeQmpServer> {
    const dir = mkdtempSync(join(tmpdir(), 'lodge-fake-qmp-'));
    const path = join(dir, 'qmp.sock');
    const server = createServer();
    const fake = new FakeQmpServer(path, dir, server, opts.greeting === undefined ? FAKE_GREETING : opts.greeting);
    server.on('connection', (socket) => fake.#accept(socket));
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve));
    return fake;
  }

  on(command: string, handler: FakeHandler): this {
    this.#handlers.set(command, handler);
    return this;
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  /** Resolves when a request for `command` has been received (including ones already received). */
  async waitForCommand(command: string): Promise<FakeRequest> {
    for (;;) {
      const req = this.received.find((r) => r.execute === command);
      if (req) return req;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  emitEvent(event: string, data?: Record<string, unknown>): void {
    const now = Date.now();
    const timestamp = { seconds: Math.floor(now / 1000), microseconds: (now % 1000) * 1000 };
    this.sendRaw(`${JSON.stringify({ event, ...(data ? { data } : {}), timestamp })}\r\n`);
  }

  /** Writes bytes verbatim to every client: garbage, partial lines, several messages at once. */
  sendRaw(bytes: string | Buffer): void {
    for (const c of this.#clients) c.write(bytes);
  }

  /** Closes every client abruptly, as a crashing QEMU would. */
  dropClients(): void {
    for (const c of this.#clients) c.destroy();
  }

  async stop(): Promise<void> {
    this.dropClients();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  #accept(socket: Socket): void {
    this.#clients.add(socket);
    socket.on('close', () => this.#clients.delete(socket));
    socket.on('error', () => {}); // clients vanish mid-write in tests; that is the point
    if (this.greeting) socket.write(`${JSON.stringify({ QMP: this.greeting })}\r\n`);
    const splitter = new LineSplitter();
    const state = { negotiated: false };
    socket.on('data', (chunk: Buffer) => {
      for (const line of splitter.push(chunk)) void this.#answer(socket, line, state);
    });
  }

  async #answer(socket: Socket, line: string, state: { negotiated: boolean }): Promise<void> {
    let req: FakeRequest;
    try {
      req = JSON.parse(line) as FakeRequest;
    } catch {
      return send(socket, { error: { class: 'GenericError', desc: 'JSON parse error' } });
    }
    this.received.push(req);
    this.#waiters.splice(0).forEach((wake) => wake());
    const idPart = req.id === undefined ? {} : { id: req.id };
    const fail = (cls: string, desc: string): void => send(socket, { error: { class: cls, desc }, ...idPart });
    // Mirrors QEMU: nothing but qmp_capabilities before negotiation, and negotiation only once.
    if (req.execute === 'qmp_capabilities' && !this.#handlers.has('qmp_capabilities')) {
      if (state.negotiated) return fail('CommandNotFound', 'Capabilities negotiation is already complete, command ignored');
      state.negotiated = true;
      return send(socket, { return: {}, ...idPart });
    }
    if (!state.negotiated && req.execute !== 'qmp_capabilities') return fail('CommandNotFound', "Expecting capabilities negotiation with 'qmp_capabilities'");
    if (req.execute === 'qmp_capabilities') state.negotiated = true;
    const handler = this.#handlers.get(req.execute);
    if (!handler) return fail('CommandNotFound', `The command ${req.execute} has not been found`);
    try {
      const result = await handler(req.arguments, req);
      if (result === NO_REPLY) return;
      if (result instanceof FakeQmpFailure) return fail(result.errorClass, result.desc);
      send(socket, { return: result ?? {}, ...idPart });
    } catch (err) {
      if (err instanceof FakeQmpFailure) return fail(err.errorClass, err.desc);
      fail('GenericError', err instanceof Error ? err.message : String(err));
    }
  }
}

function send(socket: Socket, msg: unknown): void {
  if (!socket.destroyed) socket.write(`${JSON.stringify(msg)}\r\n`);
}
