import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LodgeError } from '@lodge/api';

/** @lodge/agent's built files: two bundled ESM files for /usr/lib/lodge, lodge-spawn's and lodge-port's C sources. */
export const AGENT_FILE_NAMES = ['lodge-agent.mjs', 'lodge-guest.mjs', 'lodge-spawn.c', 'lodge-port.c', 'port-exec.c', 'lodge-port.h'] as const;
export type AgentFileName = (typeof AGENT_FILE_NAMES)[number];

export const AGENT_PACKAGE = '@lodge/agent';
/** Guest folder of the agent files (and of its agent-run wrapper). */
export const GUEST_AGENT_DIR = 'usr/lib/lodge';

/** The agent's fork server (native/lodge-spawn.c), compiled when an image is built. */
export const GUEST_SPAWNER = 'usr/lib/lodge/lodge-spawn';
/** The agent's port relay (native/lodge-port.c), compiled likewise. */
export const GUEST_RELAY = 'usr/lib/lodge/lodge-port';

/** The agent files as read from the host: their contents go into the image and into its recipe hash. */
export interface AgentFiles {
  /** Where they were found (the folder of lodge-agent.mjs). */
  dir: string;
  contents: Record<AgentFileName, Buffer>;
  /** sha256 of each file, hex. */
  sha256: Record<AgentFileName, string>;
}

function notBuilt(where: string, cause?: unknown): LodgeError {
  return new LodgeError('image_unavailable', `the Lodge agent is not built (looked for ${AGENT_FILE_NAMES.join(' and ')} in ${where})`, {
    hint: 'run: npm run build (or npm run build -w @lodge/agent); LODGE_AGENT_DIR can name a folder holding these files instead',
    cause,
  });
}

/** Path of one of @lodge/agent's built files, resolved like an import from this module (the package's `exports`). */
function resolveExport(name: AgentFileName): string {
  const specifier = `${AGENT_PACKAGE}/${name}`;
  // import.meta.resolve is synchronous on Node >= 20.6; test runners that transform modules may lack it.
  return typeof import.meta.resolve === 'function' ? fileURLToPath(import.meta.resolve(specifier)) : createRequire(import.meta.url).resolve(specifier);
}

/**
 * Finds and reads the agent files: from `dir` when given (e.g. LODGE_AGENT_DIR, for development and tests),
 * else from the installed @lodge/agent package. image_unavailable (with the build command) when missing.
 */
export async function loadAgentFiles(dir?: string): Promise<AgentFiles> {
  const contents = {} as Record<AgentFileName, Buffer>;
  const sha256 = {} as Record<AgentFileName, string>;
  let folder = dir ?? '';
  for (const name of AGENT_FILE_NAMES) {
    let path: string;
    try {
      path = dir === undefined ? resolveExport(name) : join(dir, name);
    } catch (err) {
      throw notBuilt(`the ${AGENT_PACKAGE} package`, err);
    }
    const data = await readFile(path).catch((err: unknown) => {
      throw notBuilt(dirname(path), err);
    });
    if (name === AGENT_FILE_NAMES[0] && dir === undefined) folder = dirname(path);
    contents[name] = data;
    sha256[name] = createHash('sha256').update(data).digest('hex');
  }
  return { dir: folder, contents, sha256 };
}
