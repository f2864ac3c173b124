// The agent's files as the image holds them: the bundled .mjs files, lodge-spawn and lodge-port, compiled here from C.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LodgeError } from '@lodge/api';
import { GUEST_AGENT_DIR, GUEST_RELAY, GUEST_SPAWNER, type AgentFileName, type AgentFiles } from './agent-files.js';
import { runCommand } from './host-command.js';

export interface GuestFile {
  path: string;
  mode: number;
  text: Buffer;
}

/** Static, so it runs on any glibc the guest has; the host and the guests are both Linux x86_64. */
const SPAWNER_CFLAGS = ['-static', '-O2'];

/** The agent's part of an image's recipe hash: its files' contents and how lodge-spawn is compiled from them. */
export function agentRecipeText(agent: Pick<AgentFiles, 'sha256'>): string {
  return JSON.stringify([Object.entries(agent.sha256).sort(), SPAWNER_CFLAGS]);
}

/** The agent's C programs: lodge-spawn (the fork server) and lodge-port (the port relay), and their files. */
type NativeProgram = 'lodge-spawn' | 'lodge-port';
const SOURCES: Record<NativeProgram, { compiled: AgentFileName[]; headers: AgentFileName[] }> = {
  'lodge-spawn': { compiled: ['lodge-spawn.c'], headers: [] },
  'lodge-port': { compiled: ['lodge-port.c', 'port-exec.c'], headers: ['lodge-port.h'] },
};

/** Compiles one of the agent's C programs with the host's gcc in `workDir` and returns its binary. */
export async function compileNative(agent: AgentFiles, program: NativeProgram, workDir: string, signal?: AbortSignal): Promise<Buffer> {
  const dir = join(workDir, program);
  const { compiled, headers } = SOURCES[program];
  await mkdir(dir, { recursive: true });
  for (const name of [...compiled, ...headers]) await writeFile(join(dir, name), agent.contents[name]);
  await runCommand('gcc', [...SPAWNER_CFLAGS, '-o', program, ...compiled], { cwd: dir, ...(signal ? { signal } : {}) }).catch((err: unknown) => {
    if (err instanceof LodgeError && err.code === 'host_unsupported') {
      throw new LodgeError('host_unsupported', `gcc is not installed on this host: images compile the agent's ${program} with it`, {
        hint: 'apt-get install gcc libc6-dev (or run scripts/ensure-deps)',
        cause: err,
      });
    }
    throw err;
  });
  return readFile(join(dir, program));
}

/** What goes into the image's /usr/lib/lodge: the two bundles (0644), the compiled lodge-spawn and lodge-port (0755). */
export async function agentGuestFiles(agent: AgentFiles, workDir: string, signal?: AbortSignal): Promise<GuestFile[]> {
  return [
    { path: `${GUEST_AGENT_DIR}/lodge-agent.mjs`, mode: 0o644, text: agent.contents['lodge-agent.mjs'] },
    { path: `${GUEST_AGENT_DIR}/lodge-guest.mjs`, mode: 0o644, text: agent.contents['lodge-guest.mjs'] },
    { path: GUEST_SPAWNER, mode: 0o755, text: await compileNative(agent, 'lodge-spawn', workDir, signal) },
    { path: GUEST_RELAY, mode: 0o755, text: await compileNative(agent, 'lodge-port', workDir, signal) },
  ];
}
