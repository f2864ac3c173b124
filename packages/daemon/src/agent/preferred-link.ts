import type { AgentState } from '@lodge/api';
import type { AgentTransport, Hello, OpenRequest, Stream } from '@lodge/api/guest';
import type { AgentLink } from './agent-link.js';

/** What the operations need: a stream opened on the agent. */
export interface StreamOpener {
  open(request: OpenRequest): Stream;
  /** The Hello of the agent new streams go to (its features). */
  readonly peer?: Hello | undefined;
}

export interface TransportLink {
  transport: AgentTransport;
  link: AgentLink;
}

const RANK: Record<AgentState, number> = { ready: 3, gone: 2, connecting: 1, none: 0 };

/**
 * One VM's links to its agent in order of preference (vsock, then the virtio-serial port), each its own session.
 * A new request goes to the first one that is ready; streams stay on the link they were opened on, so a
 * link that drops fails only its own streams while the other carries on.
 */
export class PreferredLink implements StreamOpener {
  private current: AgentState;
  private readonly listeners = new Set<(state: AgentState) => void>();
  private readonly offs: (() => void)[];

  constructor(private readonly links: TransportLink[]) {
    this.current = this.combined();
    this.offs = links.map(({ link }) => link.onState(() => this.update()));
  }

  get state(): AgentState {
    return this.current;
  }

  /** The link new requests go to: the first ready, else the first in sync (a silent agent is still tried), else none. */
  get inUse(): TransportLink | undefined {
    return this.links.find((l) => l.link.state === 'ready') ?? this.links.find((l) => l.link.peer !== undefined);
  }

  get peer(): Hello | undefined {
    return this.inUse?.link.peer;
  }

  open(request: OpenRequest): Stream {
    // With none in sync, the last (the port, always there) throws the usual "not connected" error.
    return (this.inUse ?? (this.links.at(-1) as TransportLink)).link.open(request);
  }

  onState(listener: (state: AgentState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  setVcpusRunning(running: boolean): void {
    for (const { link } of this.links) link.setVcpusRunning(running);
  }

  close(): void {
    for (const off of this.offs) off();
    for (const { link } of this.links) link.close();
    this.update();
  }

  /** The best state of any link: ready if one is. */
  private combined(): AgentState {
    return this.links.map((l) => l.link.state).reduce((best, s) => (RANK[s] > RANK[best] ? s : best), 'none' as AgentState);
  }

  private update(): void {
    const next = this.combined();
    if (next === this.current) return;
    this.current = next;
    for (const l of this.listeners) l(next);
  }
}
