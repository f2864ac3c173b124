import type { Logger } from 'pino';
import type { AgentState } from '@lodge/api';
import type { GuestInfo, OpenRequest, TimeSetResult } from '@lodge/api/guest';
import type { GuestChannel } from '../ports/guest-channel.js';
import { AgentBus } from './agent-bus.js';
import { agentExec } from './agent-exec.js';
import { agentReadFile } from './agent-file-read.js';
import { agentGetFiles, agentPutFiles } from './agent-files.js';
import { AgentLink, type LinkTiming } from './agent-link.js';
import { guestFailure } from './guest-failure.js';
import { stateReached } from './state-wait.js';

/** Short requests (info, time, shutdown) that take longer than this are cancelled: a stuck agent must not pile up streams. */
const REQUEST_TIMEOUT_MS = 10_000;

export interface AgentChannelOptions {
  socketPath: string;
  logger: Logger;
  timing?: Partial<LinkTiming>;
}

async function request(link: AgentLink, req: OpenRequest, timeoutMs = REQUEST_TIMEOUT_MS): Promise<unknown> {
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
  // The link reports guest publishes only once connected, after `bus` below exists.
  const link = new AgentLink({ ...o, onPublish: (stream, req) => bus.receive(stream, req) });
  const bus = new AgentBus(link);
  return {
    via: 'lodge-agent',
    get state(): AgentState {
      return link.state;
    },
    get version() {
      return link.peer?.agent?.version;
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
    close: () => link.close(),
  };
}
