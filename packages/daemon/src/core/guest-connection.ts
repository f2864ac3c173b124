import type { AgentState, GuestVia, VmGuest } from '@lodge/api';
import type { BusDelivery, GuestChannel, GuestLinks } from '../ports/guest-channel.js';
import type { EventBus } from './event-bus.js';

/** The daemon's log, as much of it as core needs (pino's logger fits). */
export interface GuestLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * When the QEMU guest agent answers first, the Lodge agent (the better channel) gets this much longer at start, in
 * an image not known to carry it (an imported one); a built image's agent gets the whole deadline.
 */
const AGENT_GRACE_MS = 10_000;
const CLOCK_DEBOUNCE_MS = 1000;
/**
 * For this long after an attach (lodged restarted, or a start without waiting), a request waits for the channel the
 * guest is expected to have instead of failing or taking the QEMU guest agent: a running agent answers in ~0.1 s.
 */
export const SETTLE_MS = 5000;

export interface GuestConnectionOptions {
  vm: string;
  /** The guest's vsock CID: the Lodge agent is reached over vsock first, the virtio-serial port as fallback. */
  vsockCid?: number;
  /** The image carries the Lodge agent (a built image): requests soon after the attach wait for it, not for QGA. */
  agentExpected?: boolean;
  links: GuestLinks;
  events: EventBus;
  log: GuestLog;
  onPublish(message: BusDelivery): Promise<number>;
}

/** One running VM's ways into its guest: the Lodge agent, and the QEMU guest agent as the fallback. */
export class GuestConnection {
  readonly agent: GuestChannel;
  readonly qga: GuestChannel | undefined;
  private readonly readyAt = new Map<GuestVia, string>();
  private readonly clockSetAt = new Map<GuestVia, number>();
  private readonly lifetime = new AbortController();
  private readonly offs: (() => void)[] = [];
  private readonly attachedAt = Date.now();

  constructor(private readonly o: GuestConnectionOptions) {
    this.agent = o.links.lodgeAgent(o.vm, o.vsockCid);
    this.qga = o.links.qemuGuestAgent(o.vm);
    this.agent.onPublish((message) => o.onPublish(message));
    for (const ch of this.channels()) this.offs.push(ch.onState((state) => this.changed(ch, state)));
  }

  /** The Lodge agent when ready, else the QEMU guest agent when it answers. */
  active(): GuestChannel | undefined {
    return this.channels().find((ch) => ch.state === 'ready');
  }

  /** For requests: a silent ("gone") Lodge agent is still tried when nothing else answers; a busy TCG guest can miss pings. */
  usable(): GuestChannel | undefined {
    return this.active() ?? (this.agent.state === 'gone' ? this.agent : undefined);
  }

  /**
   * Whether a request should wait (settle) first: the attach is recent and the channel it waits for is not ready yet,
   * the Lodge agent if the image carries it, else any. lodged restarted must not answer its first request with "not
   * connected" or a QGA exec.
   */
  unsettled(): boolean {
    return this.#awaited() !== undefined;
  }

  /** Resolves once that channel is ready or the settling time is over (never rejects). */
  async settle(): Promise<void> {
    const awaited = this.#awaited();
    if (!awaited) return;
    await Promise.any(awaited.channels.map((ch) => ch.whenReady(awaited.leftMs, this.lifetime.signal))).catch(() => undefined);
  }

  #awaited(): { channels: GuestChannel[]; leftMs: number } | undefined {
    const leftMs = this.attachedAt + SETTLE_MS - Date.now();
    const channels = this.o.agentExpected ? [this.agent] : this.channels();
    return leftMs > 0 && !channels.some((ch) => ch.state === 'ready') ? { channels, leftMs } : undefined;
  }

  summary(): VmGuest {
    const ch = this.active();
    if (ch) return { state: 'ready', via: ch.via, version: ch.version, readyAt: this.readyAt.get(ch.via), ...(ch.transport ? { transport: ch.transport } : {}) };
    const state = this.agent.state;
    return state === 'gone' ? { state, via: 'lodge-agent', version: this.agent.version } : { state };
  }

  /**
   * Resolves with the channel that became ready within `timeoutMs`, or undefined (never rejects). `agentExpected`:
   * the image carries the Lodge agent, so QGA answering first (Node starts slowly on a busy TCG guest) is not the end.
   */
  async waitReady(timeoutMs: number, signal?: AbortSignal, agentExpected = false): Promise<GuestVia | undefined> {
    const local = new AbortController();
    const deadline = Date.now() + timeoutMs;
    const stop = AbortSignal.any([this.lifetime.signal, local.signal, ...(signal ? [signal] : [])]);
    try {
      await Promise.any(this.channels().map((ch) => ch.whenReady(timeoutMs, stop)));
      if (this.qga?.state === 'ready' && this.agent.state !== 'ready') {
        const grace = agentExpected ? deadline - Date.now() : Math.min(AGENT_GRACE_MS, deadline - Date.now());
        await this.agent.whenReady(Math.max(0, grace), stop).catch(() => undefined);
      }
      return this.active()?.via;
    } catch {
      return undefined;
    } finally {
      local.abort();
    }
  }

  /** Sets the guest clock from the host's (after readiness, a resume, a re-attach); failures are logged only. */
  syncClock(ch: GuestChannel | undefined = this.active()): void {
    if (!ch || ch.state !== 'ready') return;
    // Resume, the RESUME event and the agent answering pings again all ask at once: one set is enough.
    const now = Date.now();
    if (now - (this.clockSetAt.get(ch.via) ?? 0) < CLOCK_DEBOUNCE_MS) return;
    this.clockSetAt.set(ch.via, now);
    ch.setTime(Date.now()).then(
      ({ offsetMs }) => this.o.log.info({ vm: this.o.vm, via: ch.via, offsetMs }, 'guest clock set'),
      (err: unknown) => this.o.log.warn({ vm: this.o.vm, via: ch.via, err: (err as Error).message }, 'could not set the guest clock'),
    );
  }

  /** The VM's vCPUs stopped (paused) or run again (QMP STOP/RESUME). */
  vcpusRunning(running: boolean): void {
    for (const ch of this.channels()) ch.vcpusRunning?.(running);
  }

  close(): void {
    this.lifetime.abort();
    for (const off of this.offs.splice(0)) off();
    for (const ch of this.channels()) ch.close();
  }

  private channels(): GuestChannel[] {
    return this.qga ? [this.agent, this.qga] : [this.agent];
  }

  private changed(ch: GuestChannel, state: AgentState): void {
    if (this.lifetime.signal.aborted) return;
    if (state === 'ready') this.readyAt.set(ch.via, new Date().toISOString());
    this.o.events.publish({ type: 'vm.guest', vm: this.o.vm, state, via: ch.via, version: ch.version });
    if (state === 'ready') this.syncClock(ch);
  }
}
