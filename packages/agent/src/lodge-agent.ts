// Entry point of dist/lodge-agent.mjs, run by the guest's init as `node --jitless --no-expose-wasm /usr/lib/lodge/lodge-agent.mjs`.

import './node18-compat.js';
import { existsSync } from 'node:fs';
import { AGENT_USAGE, parseAgentArgs, type AgentArgs } from './agent-args.js';
import { startAgent, type AgentPort } from './agent-main.js';
import { describe, logError } from './log.js';
import { findAgentPort, hasVsockDevice } from './port-discovery.js';
import { AGENT_VERSION } from './version.js';

const PORT_RETRY_MS = 1000;

async function choosePort(args: AgentArgs): Promise<AgentPort> {
  if (args.portIn && args.portOut) return { kind: 'fifo', input: args.portIn, output: args.portOut };
  let warned = false;
  for (;;) {
    const choice = findAgentPort(args.port, args.vsock);
    if (choice.kind !== 'none') return choice;
    // Waiting here is cheaper than exiting: init would respawn us, and Node takes 1.5 s to start in a TCG guest.
    if (!warned) logError(`no ${args.port ?? 'org.lodge.agent.0 port'} and no /dev/vsock yet; waiting for one`);
    warned = true;
    await new Promise((r) => setTimeout(r, PORT_RETRY_MS));
  }
}

async function main(): Promise<void> {
  let args: AgentArgs;
  try {
    args = parseAgentArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`lodge-agent: ${describe(error)}\n${AGENT_USAGE}`);
    process.exit(2);
  }
  if (args.version) {
    process.stdout.write(`${AGENT_VERSION}\n`);
    return;
  }
  if (args.help) {
    process.stdout.write(AGENT_USAGE);
    return;
  }
  process.on('uncaughtException', (error) => logError(`uncaught: ${error.stack ?? error.message}`));
  process.on('unhandledRejection', (reason) => logError(`unhandled rejection: ${describe(reason)}`));
  const port = await choosePort(args);
  // Where the host gave us a vsock device, serve it too (the host prefers it); the port stays the fallback.
  const vsock = port.kind !== 'vsock' && (args.vsockListen !== undefined || hasVsockDevice());
  await startAgent({
    port,
    ...(vsock ? { vsock: args.vsockListen ? { address: args.vsockListen } : {} } : {}),
    ptyDir: args.ptyDir,
    ...(args.busSocket ? { busSocket: args.busSocket } : {}),
    // An image built before lodge-spawn has no such file: exec then uses Node's spawn.
    ...(args.spawner && existsSync(args.spawner) ? { spawner: { binary: args.spawner } } : {}),
    // Likewise lodge-port: without it the port is read by a worker thread.
    ...(args.relay && existsSync(args.relay) ? { relay: { binary: args.relay } } : {}),
    onFatal: (error) => {
      logError(`${error.message}; exiting so init starts a fresh agent`);
      hardExit();
    },
  });
}

/** process.exit() would wait forever for the reader thread blocked in read(): end at once instead. */
function hardExit(): never {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}

main().catch((error: unknown) => {
  logError(`start-up failed: ${describe(error)}`);
  hardExit();
});
