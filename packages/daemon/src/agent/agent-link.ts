import type { Logger } from 'pino';
import { LodgeError, type AgentState } from '@lodge/api';
import { createSession, FEATURE_PUT_READY, MAX_GUEST_STREAMS, writeInTick, type Hello, type OpenRequest, type PublishRequest, type Session, type Stream } from '@lodge/api/guest';
import { PublishRequestSchema } from '@lodge/api/guest-schemas';
import { dialUnix, type AgentConnection, type AgentDial } from './agent-connection.js';
import { GarbageMeter } from './garbage-meter.js';
import { checkGuestPayload } from './guest-payload.js';
import { guestFailure } from './guest-failure.js';
import { Liveness } from './liveness.js';

export interface LinkTiming {
  minBackoffMs: number;
  maxBackoffMs: number;
  pingIntervalMs: number;
  maxMissedPings: number;
  helloIntervalMs: number;
  /** An agent gone (maxMissedPings) this much longer is given up on: its streams fail, and Hellos look for it again. */
  goneResetMs: number;
}
/** Bytes of Hellos sent towards an agent that has not answered anything on this connection yet. */
const UNANSWERED_HELLO_BYTES = 4096;
const TIMING: LinkTiming = { minBackoffMs: 100, maxBackoffMs: 1000, pingIntervalMs: 2000, maxMissedPings: 3, helloIntervalMs: 500, goneResetMs: 15_000 };

export interface AgentLinkOptions {
  /** Where the agent is, for logs (agent.sock's path, or the vsock address); also the unix socket dialled without `dial`. */
  endpoint: string;
  /** Opens a connection; default: the unix socket at `endpoint`. */
  dial?: AgentDial;
  logger: Logger;
  /** A stream the guest opened with a valid bus.publish request (anything else is refused here). */
  onPublish(stream: Stream, request: PublishRequest): void;
  timing?: Partial<LinkTiming>;
}

/** The daemon's end of one channel to a VM's agent: reconnects while the VM runs, keeps the session in sync, watches liveness. */
export class AgentLink {
  readonly garbage: GarbageMeter;
  private current: AgentState = 'connecting';
  private socket: AgentConnection | undefined;
  /** The connection being dialled: a socat bridge waiting in connect() is a process, closed with the link too. */
  private dialling: AgentConnection | undefined;
  private readonly connect: AgentDial;
  private closed = false;
  private backoffMs: number;
  private redial: NodeJS.Timeout | undefined;
  private unanswered = 0;
  private readonly session: Session;
  private readonly liveness: Liveness;
  private readonly listeners = new Set<(state: AgentState) => void>();
  private readonly t: LinkTiming;
  private giveUp: NodeJS.Timeout | undefined;
  private lastAnswerAt = 0;
  private vcpusStopped = false;

  constructor(private readonly o: AgentLinkOptions) {
    this.t = { ...TIMING, ...o.timing };
    this.backoffMs = this.t.minBackoffMs;
    this.connect = o.dial ?? dialUnix(o.endpoint);
    this.garbage = new GarbageMeter(o.logger, o.endpoint);
    this.session = createSession({
      role: 'host',
      // agentPutFiles waits for the agent's `ready` before a big file's bytes (when the agent announced it too).
      features: [FEATURE_PUT_READY],
      write: (bytes, written) => this.write(bytes, written),
      // Data goes out from the writers' buffers, not copied into each frame: under a 64 MiB upload the copies' GC
      // was a third of lodged's CPU, and its pauses starved the guest's port.
      writeCallbacks: true,
      onOpen: (stream, request) => this.accept(stream, request),
      onReady: (peer) => this.ready(peer),
      onReset: (reason) => this.reset(reason.message),
      onGarbage: (bytes, reason) => this.garbage.add(bytes, reason),
      checkPayload: checkGuestPayload,
      maxPeerStreams: MAX_GUEST_STREAMS,
      helloIntervalMs: this.t.helloIntervalMs,
    });
    this.liveness = new Liveness({
      ping: (ms) => this.session.ping(ms),
      intervalMs: this.t.pingIntervalMs,
      maxMisses: this.t.maxMissedPings,
      onAlive: () => {
        this.lastAnswerAt = Date.now();
        this.cancelGiveUp();
        this.setState('ready');
      },
      onGone: () => {
        this.setState('gone');
        this.scheduleGiveUp();
      },
    });
    this.dial();
  }

  get state(): AgentState {
    return this.current;
  }

  get peer(): Hello | undefined {
    return this.session.ready ? this.session.peer : undefined;
  }

  onState(listener: (state: AgentState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Opens a host stream; throws invalid_state unless the session is in sync. */
  open(request: OpenRequest): Stream {
    if (this.closed || !this.session.ready) {
      throw new LodgeError('invalid_state', 'the guest agent is not connected', { hint: 'wait for it, or check the guest with: lodge logs NAME' });
    }
    try {
      return this.session.open(request);
    } catch (err) {
      throw guestFailure(err, `opening ${request.op} in the guest`);
    }
  }

  /**
   * The VM's vCPUs stopped (paused) or run again. A stopped guest cannot answer: it is not pinged, nor given up on,
   * meanwhile; on resume the pings start over.
   */
  setVcpusRunning(running: boolean): void {
    if (this.vcpusStopped === !running) return;
    this.vcpusStopped = !running;
    if (!running) {
      this.liveness.stop();
      this.cancelGiveUp();
    } else if (this.session.ready && !this.closed) {
      this.lastAnswerAt = Date.now();
      this.liveness.start();
      if (this.current === 'gone') this.scheduleGiveUp();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelGiveUp();
    clearTimeout(this.redial);
    this.liveness.stop();
    this.session.close();
    this.socket?.destroy();
    this.dialling?.destroy();
    this.socket = undefined;
    this.setState('none');
  }

  private write(bytes: Buffer, written?: () => void): boolean {
    const sock = this.socket;
    if (!sock) return written?.(), true;
    // Until the agent opens its port QEMU holds what we send and delivers it all at once; out of sync we send only
    // Hellos, so beyond a few unanswered ones they are dropped (nothing is pending, so no drain is awaited).
    if (!this.session.ready) {
      if (this.unanswered > UNANSWERED_HELLO_BYTES) return written?.(), true;
      this.unanswered += bytes.length;
    }
    return writeInTick(sock, bytes, written);
  }

  private dial(): void {
    if (this.closed) return;
    const sock = this.connect();
    this.dialling = sock;
    sock.once('connect', () => {
      if (this.dialling === sock) this.dialling = undefined;
      if (this.closed) return void sock.destroy();
      this.backoffMs = this.t.minBackoffMs;
      this.socket = sock;
      this.unanswered = 0;
      this.o.logger.debug({ socket: this.o.endpoint }, 'agent socket connected');
      this.session.connect(); // a fresh Hello resyncs whatever the agent thought before
    });
    sock.on('data', (chunk: Buffer) => {
      if (this.socket !== sock) return;
      this.unanswered = 0;
      this.session.receive(chunk);
    });
    sock.on('drain', () => this.socket === sock && this.session.drain());
    sock.on('error', (err) => this.o.logger.debug({ socket: this.o.endpoint, err: err.message }, 'agent socket error'));
    sock.on('close', () => {
      if (this.dialling === sock) this.dialling = undefined;
      if (this.socket === sock) {
        this.socket = undefined;
        this.liveness.stop();
        this.session.disconnect('the agent socket closed');
        this.setState('connecting');
      }
      if (this.closed) return;
      this.redial = setTimeout(() => this.dial(), this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, this.t.maxBackoffMs);
    });
  }

  private ready(peer: Hello): void {
    this.o.logger.info({ socket: this.o.endpoint, agent: peer.agent }, 'guest agent ready');
    this.lastAnswerAt = Date.now();
    this.setState('ready');
    if (!this.vcpusStopped) this.liveness.start();
  }

  /**
   * An agent that stays silent (it died and init does not bring it back, or the guest hangs) would leave every
   * stream on it (a `lodge exec`, a copy) waiting for ever: they fail, and Hellos look for the agent as after a reset.
   */
  private scheduleGiveUp(): void {
    if (this.giveUp || this.vcpusStopped || this.closed) return;
    this.giveUp = setTimeout(() => {
      this.giveUp = undefined;
      if (this.current !== 'gone' || this.vcpusStopped || !this.session.ready) return;
      const silentS = Math.round((Date.now() - this.lastAnswerAt) / 1000);
      this.o.logger.warn({ socket: this.o.endpoint, silentS }, 'guest agent silent: its streams fail, and Hellos look for it again');
      this.session.disconnect(`the guest agent has not answered for ${silentS} s (it stopped and did not come back, or the guest hangs)`);
      this.session.connect();
    }, this.t.goneResetMs);
    this.giveUp.unref();
  }

  private cancelGiveUp(): void {
    clearTimeout(this.giveUp);
    this.giveUp = undefined;
  }

  private reset(reason: string): void {
    this.liveness.stop();
    this.cancelGiveUp();
    this.o.logger.debug({ socket: this.o.endpoint, reason }, 'guest session reset');
    // A gone agent stays gone until it says Hello again; a ready one is resyncing.
    if (this.current === 'ready') this.setState('connecting');
  }

  private accept(stream: Stream, request: unknown): void {
    const parsed = PublishRequestSchema.safeParse(request);
    if (!parsed.success) {
      const op = (request as { op?: unknown } | null)?.op;
      stream.reset({ code: 'protocol_error', message: `the host accepts only bus.publish from the guest, not ${JSON.stringify(op)}` });
      return;
    }
    this.o.onPublish(stream, parsed.data as PublishRequest);
  }

  private setState(next: AgentState): void {
    if (this.current === next || (this.closed && next !== 'none')) return;
    this.current = next;
    for (const l of this.listeners) l(next);
  }
}
