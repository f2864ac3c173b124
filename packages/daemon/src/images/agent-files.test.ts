import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AGENT_FILE_NAMES, loadAgentFiles } from './agent-files.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lodge-agent-files-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadAgentFiles', () => {
  it('reads the files from an explicit folder, with their sha256', async () => {
    await writeFile(join(dir, 'lodge-agent.mjs'), 'agent');
    await writeFile(join(dir, 'lodge-guest.mjs'), 'guest');
    await writeFile(join(dir, 'lodge-spawn.c'), 'int main(void) { return 0; }\n');
    await writeFile(join(dir, 'lodge-port.c'), 'int main(void) { return 0; }\n');
    await writeFile(join(dir, 'port-exec.c'), 'int exec_part;\n');
    await writeFile(join(dir, 'lodge-port.h'), '\n');
    const files = await loadAgentFiles(dir);
    expect(files.dir).toBe(dir);
    expect(files.contents['lodge-agent.mjs'].toString()).toBe('agent');
    expect(files.sha256['lodge-guest.mjs']).toBe(createHash('sha256').update('guest').digest('hex'));
    expect(files.contents['lodge-spawn.c'].toString()).toContain('main');
  });

  it('is image_unavailable, saying how to build the agent, when a file is missing', async () => {
    await writeFile(join(dir, 'lodge-agent.mjs'), 'agent');
    const err = await loadAgentFiles(dir).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'image_unavailable', hint: expect.stringContaining('npm run build') });
    expect((err as Error).message).toContain(dir);
  });

  it('finds the built @lodge/agent package without a folder, or says to build it', async () => {
    const result = await loadAgentFiles().catch((err: unknown) => err);
    if (result instanceof Error) expect(result).toMatchObject({ code: 'image_unavailable', hint: expect.stringContaining('npm run build') });
    else expect(Object.keys((result as Awaited<ReturnType<typeof loadAgentFiles>>).sha256).sort()).toEqual([...AGENT_FILE_NAMES].sort());
  });
});
