import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeGuest } from './fake-guest.js';
import { LineReader } from './line-reader.js';

// Test double for qemu-ga behind QEMU's chardev socket: no greeting, one reply per request, no ids.

export interface FakeRequest {
  execute: string;
  arguments?: Record<string, unknown>;
}
export type FakeHandler = (args: Record<string, unknown>, guest: FakeGuest) => unknown;
export class FakeQgaFailure {
  constructor(readonly errorClass: string, readonly desc: string) {}
}
/** Returned by a handler to send nothing (a hung agent, or guest-shutdown going ahead). */
export const NO_REPLY = Symbol('no reply');

export interface FakeQgaOptions {
  /** false: requests pile up unanswered (qemu-ga not running yet) until start(). */
  started?: boolean;
  /** On each connection, send leftovers of an earlier client first: a reply, a delimited sync reply, half a line. */
  staleOnConnect?: boolean;
  /** Answer the 0xFF flush byte with a parse error, as a strict JSON parser might. */
  errorOnDelimiter?: boolean;
  /** Commands blocked like --block-rpcs. */
  disabled?: string[];
}

export class FakeQgaServer {
  readonly guest = new FakeGuest();
  readonly received: FakeRequest[] = [];
  readonly #handlers = new Map<string, FakeHandler>();
  readonly #clients = new Set<Socket>();
  readonly #held: Array<{ socket: Socket; chunk: Buffer }> = [];
  #started: boolean;
  #handles = new Map<number, { path: string; pos: number }>();
  #nextHandle = 1;

  private constructor(readonly path: string, private readonly dir: string, private readonly server: Server, private readonly opts: FakeQgaOptions) {
    this.#started = opts.started ?? true;
    this.#installDefaults();
  }

  static async start(opts: FakeQgaOptions = {}): Promise<FakeQgaServer> {
    const dir = mkdtempSync(join(tmpdir(), 'lodge-fake-qga-'));
    const path = join(dir, 'qga.sock');
    const server = createServer();
    const fake = new FakeQgaServer(path, dir, server, opts);
    server.on('connection', (socket) => fake.#accept(socket));
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve));
    return fake;
  }

  on(command: string, handler: FakeHandler): this {
    this.#handlers.set(command, handler);
    return this;
  }

  commands(): string[] {
    return this.received.map((r) => r.execute);
  }

  /** qemu-ga comes up: everything sent meanwhile is answered in order, as the virtio-serial buffer would deliver it. */
  startAgent(): void {
    this.#started = true;
    for (const { socket, chunk } of this.#held.splice(0)) socket.emit('data', chunk);
  }

  stopAgent(): void {
    this.#started = false;
  }

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
    socket.on('error', () => {});
    if (this.opts.staleOnConnect) {
      socket.write(Buffer.concat([Buffer.from('{"return": {"stale": true}}\n'), Buffer.from([0xff]), Buffer.from('{"return": 4242}\n{"return": {"half')]));
    }
    const reader = new LineReader();
    let chain = Promise.resolve(); // qemu-ga answers strictly in order, even when a handler is slow
    socket.on('data', (chunk: Buffer) => {
      if (!this.#started) return void this.#held.push({ socket, chunk });
      for (const token of reader.push(chunk)) {
        if (token.kind === 'delimiter') {
          const parseError = { error: { class: 'GenericError', desc: 'JSON parse error, invalid character' } };
          if (this.opts.errorOnDelimiter) chain = chain.then(() => send(socket, parseError));
        } else if (token.text.trim() !== '') chain = chain.then(() => this.#answer(socket, token.text));
      }
    });
  }

  async #answer(socket: Socket, line: string): Promise<void> {
    let req: FakeRequest;
    try {
      req = JSON.parse(line) as FakeRequest;
    } catch {
      return send(socket, { error: { class: 'GenericError', desc: 'JSON parse error' } });
    }
    this.received.push(req);
    const fail = (cls: string, desc: string): void => send(socket, { error: { class: cls, desc } });
    if (this.opts.disabled?.includes(req.execute)) return fail('CommandNotFound', `The command ${req.execute} has been disabled for this instance`);
    const handler = this.#handlers.get(req.execute);
    if (!handler) return fail('CommandNotFound', `The command ${req.execute} has not been found`);
    try {
      const result = await handler(req.arguments ?? {}, this.guest);
      if (result === NO_REPLY) return;
      if (result instanceof FakeQgaFailure) return fail(result.errorClass, result.desc);
      if (req.execute === 'guest-sync-delimited') socket.write(Buffer.from([0xff]));
      send(socket, { return: result ?? {} });
    } catch (err) {
      fail('GenericError', err instanceof Error ? err.message : String(err));
    }
  }

  #installDefaults(): void {
    const g = this.guest;
    const ro = (path: string, mode: string): void => {
      if (g.dirs.has(path)) throw new Error(`failed to open file '${path}' (mode: '${mode}'): Is a directory`);
    };
    this.on('guest-sync-delimited', (a) => a.id)
      .on('guest-ping', () => ({}))
      .on('guest-info', () => ({
        version: '7.2.0-fake',
        supported_commands: [...this.#handlers.keys()].map((name) => ({ name, enabled: !this.opts.disabled?.includes(name), 'success-response': true })),
      }))
      .on('guest-exec', (a) => ({
        pid: g.spawn([String(a.path), ...((a.arg as string[] | undefined) ?? [])], Buffer.from(String(a['input-data'] ?? ''), 'base64')),
      }))
      .on('guest-exec-status', (a) => g.status(Number(a.pid)))
      .on('guest-file-open', (a) => {
        const path = String(a.path);
        const mode = String(a.mode ?? 'r');
        if (mode === 'w') {
          ro(path, mode);
          g.files.set(path, { data: Buffer.alloc(0), mode: 0o644, mtimeMs: Date.now() });
        } else if (!g.files.has(path) && !g.dirs.has(path)) throw new Error(`failed to open file '${path}' (mode: '${mode}'): No such file or directory`);
        this.#handles.set(this.#nextHandle, { path, pos: 0 });
        return this.#nextHandle++;
      })
      .on('guest-file-read', (a) => {
        const h = this.#handle(a.handle);
        const f = g.files.get(h.path);
        if (!f) throw new Error('failed to read file: Is a directory');
        const buf = f.data.subarray(h.pos, h.pos + Number(a.count ?? 4096));
        h.pos += buf.length;
        return { count: buf.length, 'buf-b64': buf.toString('base64'), eof: h.pos >= f.data.length };
      })
      .on('guest-file-write', (a) => {
        const h = this.#handle(a.handle);
        const f = g.files.get(h.path)!;
        const buf = Buffer.from(String(a['buf-b64']), 'base64');
        f.data = Buffer.concat([f.data.subarray(0, h.pos), buf]);
        h.pos += buf.length;
        return { count: buf.length, eof: false };
      })
      .on('guest-file-seek', (a) => {
        const h = this.#handle(a.handle);
        const f = g.files.get(h.path);
        if (!f) return { position: 9_223_372_036_854, eof: false }; // ext4 folders seek to a huge bogus offset
        h.pos = a.whence === 'end' ? f.data.length + Number(a.offset) : Number(a.offset);
        return { position: h.pos, eof: false };
      })
      .on('guest-file-close', (a) => void this.#handles.delete(Number(a.handle)))
      .on('guest-get-osinfo', () => ({
        'kernel-release': '6.1.0-fake', 'kernel-version': '#1 SMP', machine: 'x86_64', id: 'debian', name: 'Debian GNU/Linux',
        'pretty-name': 'Debian GNU/Linux 12 (bookworm)', version: '12 (bookworm)', 'version-id': '12',
      }))
      .on('guest-get-host-name', () => ({ 'host-name': 'fakevm' }))
      .on('guest-network-get-interfaces', () => [
        { name: 'lo', 'ip-addresses': [{ 'ip-address-type': 'ipv4', 'ip-address': '127.0.0.1', prefix: 8 }] },
        { name: 'eth0', 'ip-addresses': [{ 'ip-address-type': 'ipv4', 'ip-address': '10.0.2.15', prefix: 24 }, { 'ip-address-type': 'ipv6', 'ip-address': 'fe80::1', prefix: 64 }] },
      ])
      .on('guest-get-fsinfo', () => [{ name: 'vda', mountpoint: '/', type: 'ext4', 'used-bytes': 1000, 'total-bytes': 5000, disk: [] }])
      .on('guest-get-time', () => 1_700_000_000_000 * 1e6)
      .on('guest-set-time', () => ({}))
      .on('guest-shutdown', () => NO_REPLY);
  }

  #handle(h: unknown): { path: string; pos: number } {
    const entry = this.#handles.get(Number(h));
    if (!entry) throw new Error(`handle '${String(h)}' has not been found`);
    return entry;
  }
}

function send(socket: Socket, msg: unknown): void {
  if (!socket.destroyed) socket.write(`${JSON.stringify(msg)}\n`);
}
