import { randomBytes } from 'node:crypto';
import { INBOX_PREFIX, isTopic, PROVISION_PROGRESS_FILE, TOPIC_PATTERN, type GuestInfo } from '@lodge/api/guest';
import { LodgeError, type ExecStart, type GuestStatus, type GuestVia, type PublishReceipt, type VmGuest } from '@lodge/api';
import type { BusDelivery, ExecSinks, FileRange, FilesSink, FilesSource, FileWindow, GuestChannel, GuestExecution, GuestLinks } from '../ports/guest-channel.js';
import type { EventBus } from './event-bus.js';
import { followProvisioning, type ProvisionWatch } from './first-boot-watch.js';
import { GuestConnection, type GuestLog } from './guest-connection.js';
import { MessageBus, type Deliver } from './message-bus.js';
import { withTimeLimit } from './time-limit.js';
import type { VmRecords } from './vm-records.js';

const INFO_TIMEOUT_MS = 5000;
/** A sampling round does not wait longer than this for a guest's memory and network counters. */
const USAGE_TIMEOUT_MS = 2000;

/** What the guest itself says it uses (memory, network bytes), for the metrics sampler. */
export type GuestUsage = Pick<GuestInfo, 'memory' | 'net'>;
const QGA_NOTE = 'streaming exec, folders and messages need the Lodge agent';

export interface GuestServiceDeps {
  links: GuestLinks;
  records: Pick<VmRecords, 'get'>;
  events: EventBus;
  log: GuestLog;
}

/** Each running VM's guest channels, what the API does through them, and the host side of the message bus. */
export class GuestService {
  private readonly connections = new Map<string, GuestConnection>();
  private readonly bus = new MessageBus();

  constructor(private readonly d: GuestServiceDeps) {}

  /** The VM's QEMU runs (started or re-attached): start reaching its guest. `agentExpected`: its image carries the Lodge agent. */
  attach(vm: string, vsockCid?: number, agentExpected = false): void {
    this.connections.get(vm)?.close();
    const onPublish = (message: BusDelivery): Promise<number> => this.bus.deliver(vm, message);
    this.connections.set(vm, new GuestConnection({ vm, vsockCid, agentExpected, links: this.d.links, events: this.d.events, log: this.d.log, onPublish }));
  }

  detach(vm: string): void {
    this.connections.get(vm)?.close();
    this.connections.delete(vm);
  }

  closeAll(): void {
    for (const vm of [...this.connections.keys()]) this.detach(vm);
  }

  /** The guest was paused: its clock stood still. */
  resumed(vm: string): void {
    this.connections.get(vm)?.syncClock();
  }

  /** The VM's vCPUs stopped or run again: a paused guest's silent agent is not given up on. */
  vcpusRunning(vm: string, running: boolean): void {
    this.connections.get(vm)?.vcpusRunning(running);
  }

  waitReady(vm: string, timeoutMs: number, signal?: AbortSignal, agentExpected = false): Promise<GuestVia | undefined> {
    return this.connections.get(vm)?.waitReady(timeoutMs, signal, agentExpected) ?? Promise.resolve(undefined);
  }

  summary(vm: string): VmGuest | undefined {
    return this.connections.get(vm)?.summary();
  }

  async status(vm: string): Promise<GuestStatus> {
    const { state } = this.d.records.get(vm);
    const conn = this.connections.get(vm);
    if (!conn) return { state: 'none', note: `VM "${vm}" is ${state}` };
    const status: GuestStatus = { ...conn.summary() };
    const ch = conn.active();
    if (ch?.via === 'qemu-guest-agent') status.note = ch.note ?? QGA_NOTE;
    if (!ch) return status;
    try {
      status.info = await withTimeLimit(ch.info(), INFO_TIMEOUT_MS, () => new Error(`no answer within ${INFO_TIMEOUT_MS / 1000} s`));
    } catch (err) {
      status.note = [status.note, `the guest did not give its details: ${(err as Error).message}`].filter(Boolean).join('; ');
    }
    return status;
  }

  /**
   * Memory and network counters from a ready Lodge agent, else undefined: the QEMU guest agent's info costs a
   * dozen commands and a guest-exec, too much for every round.
   */
  async usage(vm: string): Promise<GuestUsage | undefined> {
    const ch = this.connections.get(vm)?.active();
    if (ch?.via !== 'lodge-agent') return undefined;
    try {
      const info = await withTimeLimit(ch.info(), USAGE_TIMEOUT_MS, () => new Error('guest usage timed out'));
      return { memory: info.memory, net: info.net };
    } catch {
      return undefined;
    }
  }

  exec(vm: string, start: ExecStart, sinks: ExecSinks): { execution: GuestExecution; via: GuestVia; note?: string } {
    const ch = this.channel(vm);
    // Through QGA, stdin is taken whole (up to 1 MiB) before the program starts; only a terminal is impossible.
    if (start.tty && !ch.abilities.tty) {
      throw new LodgeError('invalid_argument', `a terminal (tty) needs the Lodge agent; VM "${vm}" answers only through the QEMU guest agent`, {
        hint: 'run without a terminal, or use an image with the Lodge agent',
      });
    }
    return { execution: ch.exec(start, sinks), via: ch.via, note: ch.via === 'qemu-guest-agent' ? (ch.note ?? QGA_NOTE) : undefined };
  }

  async getFiles(vm: string, path: string, sink: FilesSink, signal?: AbortSignal): Promise<{ entries: number; bytes: number }> {
    return (await this.reach(vm)).getFiles(path, sink, signal);
  }

  async putFiles(vm: string, path: string, source: FilesSource, signal?: AbortSignal): Promise<{ entries: number; bytes: number }> {
    return (await this.reach(vm)).putFiles(path, source, signal);
  }

  /** A window of a guest file (following a file the guest appends to), through whichever channel answers. */
  async readFile(vm: string, path: string, range: FileRange, signal?: AbortSignal): Promise<FileWindow> {
    return (await this.reach(vm)).readFile(path, range, signal);
  }

  /** Follows the guest's first-boot provisioning to its done line (lodge start); throws provision_failed. */
  followProvisioning(vm: string, o: Pick<ProvisionWatch, 'spec' | 'progress' | 'stateOf'>): Promise<void> {
    const read: ProvisionWatch['read'] = (range, signal) => this.readFile(vm, PROVISION_PROGRESS_FILE, range, signal);
    return followProvisioning({ vm, read, publish: (event) => void this.d.events.publish(event), log: this.d.log, ...o });
  }

  /** For stop: whether the guest can be asked to power off (ready, with the ability). */
  canPowerOff(vm: string): boolean {
    return this.connections.get(vm)?.active()?.abilities.shutdown === true;
  }

  /** Asked by a stop in progress, so the VM is 'stopping' here, not 'running'. */
  async powerOff(vm: string): Promise<void> {
    await (await this.reach(vm, ['running', 'stopping'])).shutdown('poweroff');
  }

  /** Subscribing needs only the VM and a valid topic: messages flow once its agent connects, across restarts. */
  assertSubscribable(vm: string, topic: string): void {
    this.d.records.get(vm);
    checkTopic(topic);
  }

  subscribe(vm: string, topic: string, deliver: Deliver): () => void {
    this.assertSubscribable(vm, topic);
    return this.bus.subscribe(vm, topic, deliver);
  }

  /** Delivered to the host's subscribers of the topic and to the guest's; resolves once both took it. */
  async publish(vm: string, message: BusDelivery): Promise<PublishReceipt> {
    checkTopic(message.topic);
    const ch = await this.busChannel(vm);
    const [host, guest] = await Promise.all([this.bus.deliver(vm, message), ch.publish(message)]);
    return { delivered: host + guest.delivered };
  }

  /** Publishes with a fresh reply inbox and resolves with the first reply. */
  async request(vm: string, message: Omit<BusDelivery, 'replyTo'>, timeoutMs: number): Promise<BusDelivery> {
    const inbox = `${INBOX_PREFIX}${randomBytes(12).toString('hex')}`;
    let answer: (reply: BusDelivery) => void = () => undefined;
    const reply = new Promise<BusDelivery>((resolve) => (answer = resolve));
    const off = this.bus.subscribe(vm, inbox, async (m) => answer(m));
    try {
      const receipt = await this.publish(vm, { ...message, replyTo: inbox });
      if (receipt.delivered === 0) throw new LodgeError('not_found', `nobody subscribes to "${message.topic}" in VM "${vm}"`, { hint: 'start the program that answers it first' });
      return await withTimeLimit(reply, timeoutMs, () => new LodgeError('timeout', `no reply on "${message.topic}" within ${timeoutMs} ms`));
    } finally {
      off();
    }
  }

  /**
   * Resolves once exec (synchronous) would find the channel, waiting for it a little after an attach; else throws the
   * error exec or files would, so the API can refuse before a WebSocket upgrade.
   */
  async reachable(vm: string): Promise<void> {
    await this.reach(vm);
  }

  /** The channel for a request, after the wait a recent attach may ask for (see GuestConnection.unsettled). */
  private async reach(vm: string, reachableIn: readonly string[] = ['running']): Promise<GuestChannel> {
    const conn = this.connections.get(vm);
    if (conn?.unsettled()) {
      // Only a VM that runs is worth the wait (a paused one keeps its connection); the state is read again after it.
      this.checkRunning(vm, reachableIn);
      await conn.settle();
    }
    return this.channel(vm, reachableIn);
  }

  private checkRunning(vm: string, reachableIn: readonly string[]): void {
    const { state } = this.d.records.get(vm);
    if (!reachableIn.includes(state)) {
      const hint = state === 'paused' ? `resume it with: lodge resume ${vm}` : `start it with: lodge start ${vm}`;
      throw new LodgeError('invalid_state', `VM "${vm}" is ${state}: its guest can only be reached while it runs`, { hint });
    }
  }

  /** The channel for a request now, or a clear invalid_state naming what is missing. */
  private channel(vm: string, reachableIn: readonly string[] = ['running']): GuestChannel {
    this.checkRunning(vm, reachableIn);
    const ch = this.connections.get(vm)?.usable();
    if (!ch) {
      throw new LodgeError('invalid_state', `the guest agent of VM "${vm}" is not connected`, {
        hint: `the guest agent is not connected yet; wait for it or check: lodge logs ${vm}`,
      });
    }
    return ch;
  }

  private async busChannel(vm: string): Promise<GuestChannel> {
    const ch = await this.reach(vm);
    if (!ch.abilities.bus) throw new LodgeError('invalid_state', `messages need the Lodge agent; VM "${vm}" answers only through the QEMU guest agent`);
    return ch;
  }
}

function checkTopic(topic: string): void {
  if (!isTopic(topic)) throw new LodgeError('invalid_argument', `invalid topic ${JSON.stringify(topic)}: it must match ${TOPIC_PATTERN.source}`);
}
