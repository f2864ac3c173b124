import type { Logger } from 'pino';
import type { AgentState } from '@lodge/api';
import type { GuestInfo, OpenRequest, PublishRequest, Stream, TimeSetResult } from '@lodge/api/guest';
import type { GuestChannel } from '../ports/guest-channel.js';
import { AgentBus } from './agent-bus.js';
import { agentExec } from './agent-exec.js';
import { agentReadFile } from './agent-file-read.js';
import { agentGetFiles, agentPutFiles } from './agent-files.js';
import { AgentLink, type LinkTiming } from './agent-link.js';
import { PreferredLink, type StreamOpener, type TransportLink } from './preferred-link.js';
import { dialSocat, vsockAddress } from './vsock-bridge.js';
import { guestFailure } from './guest-failure.js';
import { stateReached } from './state-wait.js';

/** Short requests (info, time, shutdown) that take longer than this are cancelled: a stuck agent must not pile up streams. */
const REQUEST_TIMEOUT_MS = 10_000;

export interface AgentChannelOptions {
  /** The VM's agent.sock (virtio-serial port): always there, the fallback. */
  socketPath: string;
  /** The guest's vsock CID: tried first when set. */
  vsockCid?: number;
  /** The socat address of the vsock side; tests point it at a unix socket. Default VSOCK-CONNECT:<cid>:7070. */
  vsockAddress?: string;
  socat?: string;
  logger: Logger;
  timing?: Partial<LinkTiming>;
}

/** A guest that never serves vsock (an older agent, no socat) costs one socat spawn per this long. */
const VSOCK_MAX_BACKOFF_MS = 5000;

async function request(link: StreamOpener, req: OpenRequest, timeoutMs = REQUEST_TIMEOUT_MS): Promise<unknown> {
  const stream = link.open(req);
  const timer = setTimeout(() => !stream.finished && stream.reset({ code: 'timeout', message: `the guest agent did not answer ${req.op} within ${timeoutMs / 1000} s` }), timeoutMs);
  try {
    return await stream.result();
  } catch (err) {
    throw guestFailure(err, req.op);
  } finally {
    clearTimeout(timer);
  }
}

/** The GuestChannel of the Lodge agent: every ability, over the multiplexed session on agent.sock. */
export function createAgentChannel(o: AgentChannelOptions): GuestChannel {
  // The links report guest publishes only once connected, after `bus` below exists; either link may carry them.
  const onPublish = (stream: Stream, req: PublishRequest): void => bus.receive(stream, req);
  const links: TransportLink[] = [];
  if (o.vsockCid !== undefined) {
    const address = o.vsockAddress ?? vsockAddress(o.vsockCid);
    const timing = { maxBackoffMs: VSOCK_MAX_BACKOFF_MS, ...o.timing };
    const dial = dialSocat(address, o.socat);
    links.push({ transport: 'vsock', link: new AgentLink({ endpoint: address, dial, logger: o.logger, timing, onPublish }) });
  }
  links.push({ transport: 'virtio-serial', link: new AgentLink({ endpoint: o.socketPath, logger: o.logger, timing: o.timing, onPublish }) });
  const link = new PreferredLink(links);
  const bus = new AgentBus(link);
  return {
    via: 'lodge-agent',
    get state(): AgentState {
      return link.state;
    },
    get version() {
      return link.peer?.agent?.version;
    },
    get transport() {
      return link.inUse?.transport;
    },
    abilities: { streaming: true, bus: true, tty: true, folders: true, shutdown: true },
    onState: (listener) => link.onState(listener),
    whenReady: (timeoutMs, signal) => stateReached(link, 'ready', timeoutMs, signal),
    exec: (req, sinks) => agentExec(link, req, sinks),
    info: async () => (await request(link, { op: 'info' })) as GuestInfo,
    setTime: async (epochMs) => (await request(link, { op: 'time.set', epochMs })) as TimeSetResult,
    shutdown: async (action) => void (await request(link, { op: 'shutdown', action })),
    getFiles: (path, sink, signal) => agentGetFiles(link, path, sink, signal),
    putFiles: (path, source, signal) => agentPutFiles(link, path, source, signal),
    readFile: (path, range, signal) => agentReadFile(link, path, range, signal),
    publish: (message) => bus.publish(message),
    onPublish: (handler) => bus.onPublish(handler),
    vcpusRunning: (running) => link.setVcpusRunning(running),
    close: () => link.close(),
  };
}
