// Test double of QEMU's agent.sock server with a guest-role session serving a few ops (unit tests only).
import { createServer, type Server, type Socket } from 'node:net';
import { rm } from 'node:fs/promises';
import { Channel, FEATURE_PUT_READY, PUT_READY_BYTES, createSession, type GuestInfo, type Session, type Stream } from '@lodge/api/guest';
import type { BusDelivery } from '../ports/guest-channel.js';

export const FAKE_INFO: GuestInfo = {
  os: { id: 'debian', name: 'Debian GNU/Linux', version: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
  kernel: { release: '6.1.0-28-cloud-amd64', version: '#1 SMP', machine: 'x86_64' },
  hostname: 'fake',
  uptimeS: 12,
  load: [0, 0, 0],
  memory: { totalBytes: 256 * 2 ** 20, availableBytes: 200 * 2 ** 20 },
  disks: [],
  addresses: [],
  agent: { version: '0.1.0', pid: 77, node: 'v20.0.0' },
  timeMs: Date.now(),
};

type Req = { op: string; [k: string]: unknown };

export class FakeAgent {
  readonly requests: Req[] = [];
  readonly published: BusDelivery[] = [];
  readonly uploads: { entries: unknown[]; bytes: number; early: number }[] = [];
  /** Single files files.get serves whole (in 64 KiB writes, as the agent does), by path. */
  readonly files = new Map<string, Buffer>();
  readonly session: Session;
  socket: Socket | undefined;
  private server: Server | undefined;

  /** `features`: announced in Hello; with FEATURE_PUT_READY the fake answers a big file's entry with `ready` after
   * `readyDelayMs`, and counts bytes that came before it (`early`: the host must wait). */
  private constructor(readonly socketPath: string, private readonly options: { features?: string[]; readyDelayMs?: number } = {}) {
    this.session = createSession({
      role: 'guest',
      ...(options.features ? { features: options.features } : {}),
      agent: { version: '0.1.0', pid: 77 },
      helloIntervalMs: 100,
      write: (bytes) => this.socket?.write(bytes) ?? true,
      onOpen: (stream, request) => this.serve(stream, request as Req),
    });
  }

  static async start(socketPath: string, options: { features?: string[]; readyDelayMs?: number } = {}): Promise<FakeAgent> {
    const agent = new FakeAgent(socketPath, options);
    await agent.listen();
    return agent;
  }

  /** Like QEMU's chardev server: one client at a time; the agent says Hello to each new one. */
  async listen(): Promise<void> {
    await rm(this.socketPath, { force: true });
    this.server = createServer((sock) => {
      this.socket?.destroy();
      this.socket = sock;
      sock.on('data', (chunk: Buffer) => this.socket === sock && this.session.receive(chunk));
      sock.on('drain', () => this.session.drain());
      sock.on('error', () => undefined);
      sock.on('close', () => this.socket === sock && ((this.socket = undefined), this.session.disconnect('host gone')));
      this.session.connect();
    });
    await new Promise<void>((resolve) => this.server?.listen(this.socketPath, resolve));
  }

  /** QEMU going away: the server and its connection close. */
  async stop(): Promise<void> {
    this.socket?.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  /** The agent process restarting in the guest: a new Hello on the same port. */
  restartAgent(): void {
    this.session.connect();
  }

  /** Raw bytes onto the port, honouring back-pressure. */
  async writeRaw(bytes: Buffer): Promise<void> {
    const sock = this.socket;
    if (sock && !sock.write(bytes)) await new Promise((resolve) => sock.once('drain', resolve));
  }

  async publish(topic: string, body: Buffer): Promise<unknown> {
    const stream = this.session.open({ op: 'bus.publish', topic, size: body.length });
    await stream.write(Channel.Output, body);
    stream.end(Channel.Output);
    return stream.result();
  }

  private serve(stream: Stream, req: Req): void {
    this.requests.push(req);
    switch (req.op) {
      case 'exec':
        return void this.exec(stream, req.argv as string[]).catch(() => undefined);
      case 'info':
        return stream.finish({ ...FAKE_INFO, timeMs: Date.now() });
      case 'time.set':
        return stream.finish({ offsetMs: 5 });
      case 'shutdown':
        return stream.finish({});
      case 'files.get':
        return void this.download(stream, String(req.path)).catch(() => undefined);
      case 'files.put':
        return this.upload(stream);
      case 'bus.publish':
        return this.receivePublish(stream, req);
      default:
        return stream.reset({ code: 'invalid_argument', message: `unknown op ${req.op}` });
    }
  }

  private async exec(stream: Stream, argv: string[]): Promise<void> {
    const [program, ...args] = argv;
    if (program === 'missing') return stream.reset({ code: 'not_found', message: 'missing: command not found' });
    stream.control({ type: 'started', pid: 4242 });
    if (program === 'echo') await stream.write(Channel.Output, Buffer.from(`${args.join(' ')}\n`));
    if (program === 'flood') {
      for (let left = Number(args[0]); left > 0; left -= 65536) await stream.write(Channel.Output, Buffer.alloc(Math.min(left, 65536), 0x61));
    }
    if (program === 'cat') {
      stream.on('data', (ch, chunk) => void stream.write(Channel.Output, chunk).then(() => stream.consumed(ch, chunk.length)));
      await new Promise<void>((resolve) => stream.on('end', () => resolve()));
    }
    stream.finish({ exitCode: program === 'false' ? 1 : 0, signal: null, timedOut: false });
  }

  private async download(stream: Stream, path: string): Promise<void> {
    if (path.startsWith('/')) return this.downloadFile(stream, path);
    const entry = { type: 'entry', path: 'dir/a', kind: 'file', mode: 0o644, size: 5, mtimeMs: 0 };
    stream.control({ type: 'entry', path: 'dir', kind: 'dir', mode: 0o755, size: 0, mtimeMs: 0 });
    stream.control(entry);
    await stream.write(Channel.Output, Buffer.from(path === 'long' ? 'hello!!' : 'hello'));
    stream.finish({ entries: 2, bytes: path === 'long' ? 7 : 5 });
  }

  private async downloadFile(stream: Stream, path: string): Promise<void> {
    const data = this.files.get(path);
    if (!data) return stream.reset({ code: 'not_found', message: `stat ${path}: no such file or directory` });
    stream.control({ type: 'entry', path: path.split('/').at(-1), kind: 'file', mode: 0o644, size: data.length, mtimeMs: 0 });
    for (let at = 0; at < data.length && !stream.finished; at += 65536) {
      const chunk = data.subarray(at, at + 65536);
      await stream.write(Channel.Output, chunk);
    }
    if (!stream.finished) stream.finish({ entries: 1, bytes: data.length });
  }

  private upload(stream: Stream): void {
    const got = { entries: [] as unknown[], bytes: 0, early: 0 };
    const ready = this.options.features?.includes(FEATURE_PUT_READY) === true;
    let waiting = false;
    stream.on('control', (m) => {
      got.entries.push(m);
      const entry = m as { kind?: string; size?: number };
      if (!ready || entry.kind !== 'file' || (entry.size ?? 0) < PUT_READY_BYTES) return;
      waiting = true;
      setTimeout(() => ((waiting = false), stream.control({ type: 'ready' })), this.options.readyDelayMs ?? 20);
    });
    stream.on('data', (ch, chunk) => ((got.bytes += chunk.length), waiting && (got.early += chunk.length), stream.consumed(ch, chunk.length)));
    stream.on('end', () => (this.uploads.push(got), stream.finish({ entries: got.entries.length, bytes: got.bytes })));
  }

  private receivePublish(stream: Stream, req: Req): void {
    const chunks: Buffer[] = [];
    stream.on('data', (ch, chunk) => (chunks.push(chunk), stream.consumed(ch, chunk.length)));
    stream.on('end', () => {
      this.published.push({ topic: String(req.topic), replyTo: req.replyTo as string | undefined, body: Buffer.concat(chunks) });
      stream.finish({ delivered: 1 });
    });
  }
}
