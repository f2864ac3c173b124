import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { API } from '@lodge/api/lite';
import { openWebSocket } from './ws-connect.js';

/** Idle sockets kept per VM; more concurrent execs than this open sockets of their own and close them after. */
const MAX_IDLE = 4;
/** An idle socket is closed after this, well before lodged's own limit for a kept socket (60 s). */
const IDLE_MS = 10_000;

type Deliver = (data: Buffer, isBinary: boolean) => void;
const ignore: Deliver = () => undefined;

/** An exec WebSocket lodged keeps open after a process's exit (`?keep=1`), and who gets its messages now. */
export interface ExecSocket {
  readonly ws: WebSocket;
  deliver: Deliver;
  socket?: Socket;
  timer?: NodeJS.Timeout;
}

/**
 * The exec sockets of one client, reused across execs on a VM: a new WebSocket (connect, upgrade and handshake on
 * both sides) took ~2.5 ms of a ~11 ms exec of /bin/true. An idle socket does not keep the process alive.
 */
export class ExecSockets {
  private readonly idle = new Map<string, ExecSocket[]>();

  constructor(private readonly socketPath: string) {}

  /** An idle socket of the VM's, or a new one; its messages go to `deliver` until it is given back. */
  async take(vm: string, deliver: Deliver): Promise<ExecSocket> {
    const list = this.idle.get(vm) ?? [];
    for (let kept = list.pop(); kept; kept = list.pop()) {
      clearTimeout(kept.timer);
      if (kept.ws.readyState !== kept.ws.OPEN) continue;
      kept.deliver = deliver;
      kept.socket?.ref();
      return kept;
    }
    // Messages go to whoever holds the socket now: `fresh` is this holder, its ws added once open.
    const holder: Pick<ExecSocket, 'deliver' | 'socket'> = { deliver };
    const ws = await openWebSocket(this.socketPath, `${API.vmExec(vm)}?keep=1`, (data, isBinary) => holder.deliver(data, isBinary), (s) => (holder.socket = s));
    const fresh: ExecSocket = Object.assign(holder, { ws });
    fresh.ws.on('error', () => undefined); // its 'close' follows, which drops it; without a listener ws would throw
    fresh.ws.on('close', () => this.drop(vm, fresh));
    return fresh;
  }

  /** Back after a clean exit: kept for the next exec, or closed when enough are idle. */
  give(vm: string, kept: ExecSocket): void {
    kept.deliver = ignore;
    if (kept.ws.readyState !== kept.ws.OPEN) return;
    const list = this.idle.get(vm) ?? [];
    if (list.length >= MAX_IDLE) return kept.ws.close(1000);
    if (kept.ws.isPaused) kept.ws.resume();
    kept.socket?.unref();
    kept.timer = setTimeout(() => (this.drop(vm, kept), kept.ws.close(1000)), IDLE_MS).unref();
    list.push(kept);
    this.idle.set(vm, list);
  }

  /** Closes every idle socket. */
  close(): void {
    for (const [vm, list] of this.idle) for (const kept of [...list]) (this.drop(vm, kept), kept.ws.close(1000));
  }

  private drop(vm: string, kept: ExecSocket): void {
    clearTimeout(kept.timer);
    const list = this.idle.get(vm);
    const at = list?.indexOf(kept) ?? -1;
    if (list && at >= 0) list.splice(at, 1);
    if (list?.length === 0) this.idle.delete(vm);
  }
}
