import type { AgentState, ExecStart } from '@lodge/api';
import type { FilesResult, GuestInfo } from '@lodge/api/guest';
import type { BusDelivery, ExecSinks, FileRange, FilesSink, FilesSource, FileWindow, GuestChannel, GuestExecution } from '../ports/guest-channel.js';
import { AgentReadiness } from './agent-readiness.js';
import { runChecked, startProcess } from './guest-process.js';
import { QgaClient } from './qga-client.js';
import { agentInfo, getTime, ping, setTime, shutdown, type AgentInfo } from './qga-commands.js';
import { QgaError, needsAgent } from './qga-errors.js';
import { QgaExecution } from './qga-execution.js';
import { qgaReadFile } from './qga-file-read.js';
import { getFile, putFile, type FilesContext } from './qga-files.js';
import { readInfo } from './qga-info.js';
import { silentLogger, type QgaLogger } from './qga-logger.js';

export interface QgaChannelOptions {
  /** QEMU's chardev socket for the guest's org.qemu.guest_agent.0 port (`qga.sock` in the VM folder). */
  socketPath: string;
  logger?: QgaLogger;
  /** Pause between readiness probes while qemu-ga does not answer (default 500 ms). */
  retryMs?: number;
  /** Budget of each probe (sync + ping + info), default 1 s. */
  probeTimeoutMs?: number;
  /** Budget of each qemu-ga command otherwise, default 10 s. */
  callTimeoutMs?: number;
  /** While ready, a guest-ping this often notices a guest that rebooted or lost qemu-ga (default 5 s; 0: never). */
  keepaliveMs?: number;
}

/** A GuestChannel over qemu-ga, plus the status note saying what this fallback cannot do. */
export interface QgaChannel extends GuestChannel {
  readonly note: string;
}

const BASE_NOTE = 'streaming, terminals, folders and messages need the Lodge agent';
const SHUTDOWN_WAIT_MS = 2_000;

export function createQgaChannel(opts: QgaChannelOptions): QgaChannel {
  return new QgaGuestChannel(opts);
}

class QgaGuestChannel implements QgaChannel {
  readonly via = 'qemu-guest-agent' as const;
  readonly abilities = { streaming: false, bus: false, tty: false, folders: false, shutdown: true };
  readonly #client: QgaClient;
  readonly #log: QgaLogger;
  readonly #readiness: AgentReadiness;
  #agent: AgentInfo | undefined;
  #missing: string[] = [];

  constructor(opts: QgaChannelOptions) {
    this.#log = opts.logger ?? silentLogger;
    this.#client = new QgaClient({ socketPath: opts.socketPath, callTimeoutMs: opts.callTimeoutMs, onUnreachable: (err) => this.#readiness.lost(err) });
    this.#readiness = new AgentReadiness(this.#client, {
      retryMs: opts.retryMs ?? 500, probeTimeoutMs: opts.probeTimeoutMs ?? 1_000, keepaliveMs: opts.keepaliveMs ?? 5_000, log: this.#log,
    });
    this.#readiness.start();
  }

  get state(): AgentState {
    return this.#readiness.state;
  }

  get version(): string | undefined {
    return this.#readiness.agent?.version;
  }

  get note(): string {
    return this.#missing.length === 0 ? BASE_NOTE : `${BASE_NOTE}; not available through qemu-ga: ${this.#missing.join(', ')}`;
  }

  onState(listener: (state: AgentState) => void): () => void {
    return this.#readiness.onState(listener);
  }

  whenReady(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return this.#readiness.whenReady(timeoutMs, signal);
  }

  exec(request: ExecStart, sinks: ExecSinks): GuestExecution {
    return new QgaExecution(this.#client, request, sinks, this.#log);
  }

  async info(): Promise<GuestInfo> {
    const reading = await readInfo(this.#client, await this.#agentInfo(), this.#log);
    this.#missing = reading.missing;
    return reading.info;
  }

  async setTime(epochMs: number): Promise<{ offsetMs: number }> {
    const t0 = Date.now();
    const guestMs = (await getTime(this.#client)) / 1e6;
    const offsetMs = Math.round(guestMs - (epochMs + (Date.now() - t0) / 2)); // guest read mid-way through the round trip
    const target = epochMs + (Date.now() - t0);
    try {
      await setTime(this.#client, target * 1e6);
    } catch (err) {
      // qemu-ga refuses guest-set-time when /sbin/hwclock is missing (small images): date(1) still sets the clock.
      if (!(err instanceof QgaError && err.reason === 'command') || !(await this.#canExec())) throw err;
      this.#log.debug({ err }, 'guest-set-time failed; setting the clock with date -s');
      await runChecked(this.#client, ['date', '-u', '-s', `@${Math.round((epochMs + (Date.now() - t0)) / 1000)}`]);
    }
    return { offsetMs };
  }

  async shutdown(action: 'poweroff' | 'reboot'): Promise<void> {
    await ping(this.#client); // a timeout below counts as success, so first make sure someone is listening
    try {
      await shutdown(this.#client, action === 'poweroff' ? 'powerdown' : 'reboot', { timeoutMs: SHUTDOWN_WAIT_MS });
    } catch (err) {
      // qemu-ga sends no reply when the shutdown goes ahead; the guest may also drop the link first.
      if (err instanceof QgaError && (err.reason === 'timeout' || err.reason === 'closed')) return;
      // qemu-ga runs /sbin/shutdown, which small images (busybox) lack; their poweroff/reboot tell init instead.
      if (!(err instanceof QgaError && err.reason === 'command') || !(await this.#canExec())) throw err;
      this.#log.debug({ err }, `guest-shutdown failed; running ${action} through guest-exec`);
      await startProcess(this.#client, { argv: [action] }); // not waited for: the guest is going down
    }
  }

  async getFiles(path: string, sink: FilesSink, signal?: AbortSignal): Promise<FilesResult> {
    return getFile(await this.#filesContext(), path, sink, signal);
  }

  async putFiles(path: string, source: FilesSource, signal?: AbortSignal): Promise<FilesResult> {
    return putFile(await this.#filesContext(), path, source, signal);
  }

  readFile(path: string, range: FileRange, signal?: AbortSignal): Promise<FileWindow> {
    return qgaReadFile(this.#client, this.#log, path, range, signal);
  }

  publish(_message: BusDelivery): Promise<{ delivered: number }> {
    return Promise.reject(needsAgent('messages', 'need'));
  }

  /** qemu-ga has no bus: no message will ever arrive, so the handler is never called. */
  onPublish(_handler: (message: BusDelivery) => Promise<number>): void {}

  close(): void {
    if (this.#readiness.state === 'gone') return;
    this.#readiness.close();
    this.#client.close();
  }

  /** The probe's guest-info, or a fresh one when asked before ready. */
  async #agentInfo(): Promise<AgentInfo> {
    this.#agent = this.#readiness.agent ?? this.#agent ?? (await agentInfo(this.#client));
    return this.#agent;
  }

  async #canExec(): Promise<boolean> {
    const agent = await this.#agentInfo();
    return agent.enabled.has('guest-exec') && agent.enabled.has('guest-exec-status');
  }

  async #filesContext(): Promise<FilesContext> {
    return { client: this.#client, canExec: await this.#canExec(), log: this.#log };
  }
}
