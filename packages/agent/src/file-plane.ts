// The agent's side of lodge-port's data plane: commands out (as 0xF0 frames in the agent's frame stream), events
// in, per stream (native/lodge-port.c's header). Files' bytes go between the port and the file in C.

import { constants } from 'node:os';
import { HEADER_SIZE, writeHeader, type FrameKind } from '@lodge/api/guest';

/** The frame kind lodge-port takes as a command, never a protocol kind. */
export const COMMAND_KIND = 0xf0;
// lodge-port reports the kernel's errno numbers: this platform's, as Node knows them.
const { ECONNRESET } = constants.errno;

export function encodeCommand(text: string): Buffer {
  const payload = Buffer.from(text, 'latin1');
  const frame = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  writeHeader(frame, COMMAND_KIND as FrameKind, 0, 0, payload.length); // a kind no protocol frame has
  payload.copy(frame, HEADER_SIZE);
  return frame;
}

export interface SinkHandlers {
  /** Bytes the relay wrote to the file (or consumed off the wire after an error), and the credit it returned for them. */
  sunk(bytes: number, returned: number): void;
  /** The sink is over: errno 0 = all its bytes are in the file. */
  done(errno: number): void;
}

export interface SourceEnd {
  sent: number;
  /** Credit the relay took from the host's Windows itself (ours: take back lent + taken − sent). */
  taken: number;
  /** 0: every byte was sent; ENODATA: the file is shorter than announced; else the read's or open's errno. */
  errno: number;
}

interface PendingSink extends SinkHandlers {
  armed?: (errno: number) => void;
}

export class FilePlane {
  readonly #sinks = new Map<number, PendingSink>();
  readonly #sources = new Map<number, (end: SourceEnd) => void>();

  /** `send` writes a command to the relay (false/throw: it is gone; reset() follows). */
  constructor(private readonly send: (frame: Buffer) => void) {}

  /** Arms a sink for the next `bytes` of Data on stream+channel; resolves with 0 once armed, else with an errno. */
  sink(stream: number, channel: number, fd: number, bytes: number, handlers: SinkHandlers): Promise<number> {
    return new Promise((resolve) => {
      this.#sinks.set(stream, { ...handlers, armed: resolve });
      this.send(encodeCommand(`SINK ${stream} ${channel} ${fd} ${bytes}`));
    });
  }

  /** Drops the sink; its done() follows (ECANCELED) once the relay let go of it. */
  unsink(stream: number): void {
    if (this.#sinks.has(stream)) this.send(encodeCommand(`UNSINK ${stream}`));
  }

  /** Sends `bytes` of the file from `offset` as Data frames within the credit go() lends; resolves at the end. */
  source(stream: number, channel: number, fd: number, offset: number, bytes: number, maxPayload: number): Promise<SourceEnd> {
    return new Promise((resolve) => {
      this.#sources.set(stream, resolve);
      this.send(encodeCommand(`SOURCE ${stream} ${channel} ${fd} ${offset} ${bytes} ${maxPayload}`));
    });
  }

  go(stream: number, bytes: number): void {
    if (this.#sources.has(stream) && bytes > 0) this.send(encodeCommand(`GO ${stream} ${bytes}`));
  }

  /**
   * Lets the relay run plain execs itself (native/port-exec.c) until the next session,
   * with the defaults this agent gives an exec (its user, PATH) and the host's Data payload limit. False when a value
   * cannot travel in the command (a space in it): the agent then runs every exec.
   */
  fastExec(maxPayload: number, user: { name: string; home: string; shell: string }, path: string): boolean {
    const values = [user.name, user.home, user.shell, path];
    if (values.some((v) => v === '' || /\s/.test(v) || v.length > 500)) return false;
    this.send(encodeCommand(`FASTEXEC ${maxPayload} ${values.join(' ')}`));
    return true;
  }

  /** The session ended without the relay seeing it (a restart or framing error the agent saw): it kills its execs and runs none until the next fastExec. */
  endExec(): void {
    this.send(encodeCommand('ENDEXEC'));
  }

  stop(stream: number): void {
    if (this.#sources.has(stream)) this.send(encodeCommand(`STOP ${stream}`));
  }

  /** One event record from the relay. */
  event(text: string): void {
    const [name, a, b, c, d] = text.split(' ');
    const stream = Number(a);
    const sink = this.#sinks.get(stream);
    if (name === 'ARMED') sink?.armed?.(0), sink && (sink.armed = undefined);
    else if (name === 'SUNK') sink?.sunk(Number(b), Number(c ?? 0));
    else if (name === 'SINK-DONE' && sink) {
      this.#sinks.delete(stream);
      if (sink.armed) sink.armed(Number(b) || ECONNRESET);
      else sink.done(Number(b));
    } else if (name === 'DONE') {
      const resolve = this.#sources.get(stream);
      this.#sources.delete(stream);
      resolve?.({ sent: Number(b), errno: Number(c), taken: Number(d ?? 0) });
    }
  }

  /** The relay is gone: every sink and source ends (the session fails the streams too). */
  reset(): void {
    const sinks = [...this.#sinks.values()];
    const sources = [...this.#sources.values()];
    this.#sinks.clear();
    this.#sources.clear();
    for (const s of sinks) (s.armed ? s.armed(ECONNRESET) : s.done(ECONNRESET));
    for (const resolve of sources) resolve({ sent: 0, errno: ECONNRESET, taken: 0 });
  }
}
