import { LodgeError, type AgentState } from '@lodge/api';
import type { QgaClient } from './qga-client.js';
import { agentInfo, ping, type AgentInfo } from './qga-commands.js';
import type { QgaError } from './qga-errors.js';
import type { QgaLogger } from './qga-logger.js';

export interface ReadinessOptions {
  /** Pause between probes while qemu-ga does not answer. */
  retryMs: number;
  /** Budget of each probe step (sync, ping, info). */
  probeTimeoutMs: number;
  /** While ready, ping this often (0: never). */
  keepaliveMs: number;
  log: QgaLogger;
}

/**
 * Whether qemu-ga answers: 'connecting' until sync + ping + guest-info succeed (probed in the background), then
 * 'ready' until a call goes unanswered (lost()), 'gone' once closed. qemu-ga cannot tell us it left (guest reboot,
 * service stopped), so a keepalive ping notices it while nothing else is asked.
 */
export class AgentReadiness {
  readonly #client: QgaClient;
  readonly #o: ReadinessOptions;
  readonly #listeners = new Set<(state: AgentState) => void>();
  #state: AgentState = 'connecting';
  #agent: AgentInfo | undefined;
  #probing = false;
  #wake: (() => void) | undefined;
  #keepalive: NodeJS.Timeout | undefined;

  constructor(client: QgaClient, opts: ReadinessOptions) {
    this.#client = client;
    this.#o = opts;
  }

  get state(): AgentState {
    return this.#state;
  }

  /** What guest-info said at the last successful probe. */
  get agent(): AgentInfo | undefined {
    return this.#agent;
  }

  start(): void {
    void this.#probe();
  }

  onState(listener: (state: AgentState) => void): () => void {
    const entry = (s: AgentState): void => listener(s); // distinct per subscription
    this.#listeners.add(entry);
    return () => this.#listeners.delete(entry);
  }

  whenReady(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.#state === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        off();
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onAbort = (): void => finish(new LodgeError('internal', 'waiting for the guest agent aborted', { cause: signal?.reason }));
      const timer = setTimeout(() => finish(new LodgeError('timeout', `the QEMU guest agent did not answer within ${timeoutMs} ms`, {
        hint: 'Is qemu-ga installed and running in the guest?',
      })), timeoutMs);
      const off = this.onState((s) => {
        if (s === 'ready') finish();
        if (s === 'gone') finish(new LodgeError('invalid_state', 'the guest channel closed while waiting for the guest agent'));
      });
      if (this.#state === 'gone') finish(new LodgeError('invalid_state', 'the guest channel is closed'));
      else if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** A call got no answer: qemu-ga stopped (guest rebooting, service stopped); probe until it is back. */
  lost(err: QgaError): void {
    if (this.#state !== 'ready') return;
    this.#o.log.warn({ err }, 'qemu-ga stopped answering');
    this.#set('connecting');
    void this.#probe();
  }

  close(): void {
    this.#set('gone');
    this.#wake?.();
  }

  async #probe(): Promise<void> {
    if (this.#probing) return;
    this.#probing = true;
    try {
      while (this.#state === 'connecting') {
        try {
          const o = { timeoutMs: this.#o.probeTimeoutMs };
          await this.#client.sync(o);
          await ping(this.#client, o);
          const agent = await agentInfo(this.#client, o);
          if (this.#state !== 'connecting') return;
          this.#agent = agent;
          this.#set('ready');
          this.#o.log.debug({ version: agent.version }, 'qemu-ga ready');
        } catch (err) {
          if (this.#state !== 'connecting') return;
          this.#o.log.debug({ err }, 'qemu-ga not answering yet');
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, this.#o.retryMs);
            this.#wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.#wake = undefined;
        }
      }
    } finally {
      this.#probing = false;
    }
  }

  #set(state: AgentState): void {
    if (state === this.#state) return;
    this.#state = state;
    clearInterval(this.#keepalive);
    this.#keepalive = undefined;
    if (state === 'ready' && this.#o.keepaliveMs > 0) {
      // A failed ping reaches lost() through the client's onUnreachable; 3 probe budgets, as a busy TCG guest is slow.
      const o = { timeoutMs: 3 * this.#o.probeTimeoutMs };
      this.#keepalive = setInterval(() => void ping(this.#client, o).catch(() => {}), this.#o.keepaliveMs);
      this.#keepalive.unref(); // it must not keep a process alive on its own
    }
    for (const listener of [...this.#listeners]) listener(state);
  }
}
