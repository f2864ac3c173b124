// The Hello exchange (docs/guest-protocol.md "Session"): our Hello, the peer's checked, the resend timer.
import { BASE_PAYLOAD, FrameKind, MAX_PAYLOAD, PROTOCOL_VERSION, type Frame, type GuestError, type Hello, type Role } from './contract.js';
import { guestError } from './errors.js';
import { encodeJsonFrame, parseJsonPayload } from './frame.js';

const SESSION_ID = /^[0-9a-f]{16}$/;

/** 16 hex digits, new for every connect: a HelloAck for an older attempt does not match. */
export function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  let id = '';
  for (const b of bytes) id += b.toString(16).padStart(2, '0');
  return id;
}

export function makeHello(role: Role, session: string, agent: Hello['agent'], timeMs?: number, maxPayload = MAX_PAYLOAD, features?: string[]): Hello {
  const hello: Hello = { protocol: PROTOCOL_VERSION, role, session, maxPayload };
  if (features && features.length > 0) hello.features = features;
  if (agent) hello.agent = { version: agent.version, pid: agent.pid };
  if (timeMs !== undefined) hello.timeMs = timeMs;
  return hello;
}

/** The engine's own minimal check of a peer's Hello/HelloAck (the daemon adds HelloSchema via checkPayload). */
export function readHello(value: unknown, ourRole: Role): Hello | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'Hello is not an object';
  const { protocol, role, session, agent, timeMs, maxPayload, features } = value as Record<string, unknown>;
  if (typeof protocol !== 'number' || !Number.isInteger(protocol) || protocol < 1) return 'Hello without a protocol version';
  const peerRole: Role = ourRole === 'host' ? 'guest' : 'host';
  // Our own role coming back means an echo (e.g. a loopback on an unconnected port), not a peer.
  if (role !== peerRole) return `Hello from role ${String(role).slice(0, 16)}`;
  if (typeof session !== 'string' || !SESSION_ID.test(session)) return 'Hello without a 16-hex-digit session';
  const hello: Hello = { protocol, role: peerRole, session };
  if (typeof agent === 'object' && agent !== null) {
    const { version, pid } = agent as Record<string, unknown>;
    if (typeof version === 'string' && typeof pid === 'number') hello.agent = { version: version.slice(0, 256), pid };
  }
  if (typeof timeMs === 'number' && Number.isFinite(timeMs)) hello.timeMs = timeMs;
  // A newer peer may take more than we send: never above our own bound, never below what every peer takes.
  if (typeof maxPayload === 'number' && Number.isInteger(maxPayload)) hello.maxPayload = Math.min(MAX_PAYLOAD, Math.max(BASE_PAYLOAD, maxPayload));
  if (Array.isArray(features)) hello.features = features.filter((f): f is string => typeof f === 'string').slice(0, 32);
  return hello;
}

/** Resends Hello every `intervalMs` until stopped; 0 = send once (unit tests). */
export class HelloTimer {
  readonly #intervalMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  start(send: () => void): void {
    this.stop();
    send();
    if (this.#intervalMs <= 0) return;
    this.#timer = setInterval(send, this.#intervalMs);
    // The transport keeps a live process alive; a pending handshake alone must not.
    this.#timer.unref?.();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** One end's side of the handshake: our session id, Hello until acknowledged, answers to the peer's. */
export class Handshake {
  readonly #role: Role;
  readonly #agent: Hello['agent'];
  readonly #maxPayload: number;
  readonly #features: string[] | undefined;
  readonly #transmit: (frame: Buffer) => void;
  readonly #timer: HelloTimer;
  #sessionId = '';

  constructor(role: Role, agent: Hello['agent'], intervalMs: number, transmit: (frame: Buffer) => void, maxPayload = MAX_PAYLOAD, features?: string[]) {
    this.#role = role;
    this.#features = features;
    this.#agent = agent;
    this.#maxPayload = Math.min(MAX_PAYLOAD, Math.max(BASE_PAYLOAD, maxPayload));
    this.#timer = new HelloTimer(intervalMs);
    this.#transmit = transmit;
  }

  get sessionId(): string {
    return this.#sessionId;
  }

  /**
   * Hello now and every interval until stop(), under a new session id — or the current one when `keepId` and there
   * is one: a Hello of an attempt that never got in sync may still be delivered late (virtio-serial holds a guest's
   * writes until the host connects), and a later Hello with another id would then look like a restart.
   */
  start(keepId = false): void {
    if (!keepId || this.#sessionId === '') this.#sessionId = newSessionId();
    this.#timer.start(() => this.#transmit(encodeJsonFrame(FrameKind.Hello, 0, makeHello(this.#role, this.#sessionId, this.#agent, Date.now(), this.#maxPayload, this.#features))));
  }

  stop(): void {
    this.#timer.stop();
  }

  /** The peer's Hello/HelloAck in a frame, or why it is not one; `check` is the checkPayload hook. */
  read(frame: Frame, check: (value: unknown) => string | undefined): Hello | string {
    const name = frame.kind === FrameKind.Hello ? 'Hello' : 'HelloAck';
    if (frame.stream !== 0) return `${name} on stream ${frame.stream}`;
    const parsed = parseJsonPayload(frame.payload);
    if (!parsed.ok) return `${name}: ${parsed.reason}`;
    const hello = readHello(parsed.value, this.#role);
    const problem = typeof hello === 'string' ? hello : check(parsed.value);
    return problem === undefined ? hello : `${name}: ${problem}`;
  }

  ack(hello: Hello): void {
    this.#transmit(encodeJsonFrame(FrameKind.HelloAck, 0, makeHello(this.#role, hello.session, this.#agent, undefined, this.#maxPayload, this.#features)));
  }

  /** Answers a peer of another protocol version with Reset on stream 0, and stops saying Hello until it does. */
  refuse(protocol: number): GuestError {
    const error = guestError('protocol_mismatch', `this end speaks guest protocol ${PROTOCOL_VERSION}, the peer ${protocol}`);
    this.#timer.stop();
    this.#transmit(encodeJsonFrame(FrameKind.Reset, 0, error));
    return error;
  }
}
