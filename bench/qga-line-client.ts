// A bare QEMU guest agent client for the baseline: JSON lines on qga.sock, one request at a time.
import { connect, type Socket } from 'node:net';

export class QgaLineClient {
  private buffer = '';
  private waiter: ((line: string) => void) | undefined;
  private constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buffer += d;
      for (let nl = this.buffer.indexOf('\n'); nl >= 0 && this.waiter; nl = this.buffer.indexOf('\n')) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        const w = this.waiter;
        this.waiter = undefined;
        w(line);
      }
    });
  }

  static async open(path: string): Promise<QgaLineClient> {
    const socket = connect(path);
    await new Promise<void>((res, rej) => socket.once('connect', res).once('error', rej));
    const client = new QgaLineClient(socket);
    // Stale replies may wait in the port: sync with a delimited id (its reply follows a 0xFF byte).
    const id = Math.floor(Math.random() * 1e9);
    socket.write(Buffer.from([0xff]));
    socket.write(`${JSON.stringify({ execute: 'guest-sync-delimited', arguments: { id } })}\n`);
    for (;;) {
      const line = (await client.nextLine(10_000)).replace(/^[^{]*/, '');
      if (line.includes(`"return": ${id}`) || line.includes(`"return":${id}`)) return client;
    }
  }

  private nextLine(timeoutMs: number): Promise<string> {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error('QGA did not answer')), timeoutMs);
      this.waiter = (line) => (clearTimeout(timer), res(line));
      this.socket.emit('data', '');
    });
  }

  async execute<T>(command: string, args?: object): Promise<T> {
    this.socket.write(`${JSON.stringify({ execute: command, arguments: args })}\n`);
    const reply = JSON.parse(await this.nextLine(30_000)) as { return?: T; error?: { desc: string } };
    if (reply.error) throw new Error(`${command}: ${reply.error.desc}`);
    return reply.return as T;
  }

  /** guest-exec, then guest-exec-status polled back to back until the process exits, as QGA users must. */
  async run(path: string, args: string[]): Promise<{ exitcode?: number; out: string }> {
    const { pid } = await this.execute<{ pid: number }>('guest-exec', { path, arg: args, 'capture-output': true });
    for (;;) {
      const s = await this.execute<{ exited: boolean; exitcode?: number; 'out-data'?: string }>('guest-exec-status', { pid });
      if (s.exited) return { exitcode: s.exitcode, out: Buffer.from(s['out-data'] ?? '', 'base64').toString() };
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
