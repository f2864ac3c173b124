import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROVISION_LOG_FILE, PROVISION_OUTPUT_TAIL_BYTES } from '@lodge/api/guest';
import { cleanEnv } from './guest-system.js';
import { NodeSystem } from './node-system.js';

let root: string;
let system: NodeSystem;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'lodge-node-system-'));
  system = new NodeSystem(root);
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('NodeSystem.run', () => {
  it('gives a clean environment and /dev/null as stdin, and both output streams in one tail', async () => {
    const r = await system.run(['/bin/sh', '-c', 'env | sort; cat; echo err >&2; exit 3'], { env: cleanEnv('/root') });
    expect(r.code).toBe(3);
    expect(r.output.toString()).toBe(`HOME=/root\nLANG=C.UTF-8\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nPWD=/\nerr\n`);
  });

  it('appends logged output to the provision log and keeps only the tail', async () => {
    const r = await system.run(['/bin/sh', '-c', `head -c 20000 /dev/zero | tr '\\0' a; echo; echo last`], { env: cleanEnv('/root'), logAs: 'script-1' });
    expect(r.code).toBe(0);
    expect(r.output.length).toBe(PROVISION_OUTPUT_TAIL_BYTES);
    expect(r.output.toString().endsWith('a\nlast\n')).toBe(true);
    await system.run(['/bin/echo', 'again'], { env: cleanEnv('/root'), logAs: 'script-2' });
    const log = await readFile(join(root, PROVISION_LOG_FILE), 'utf8');
    expect(log).toMatch(/^==> \S+ script-1: \/bin\/sh -c .*\na{20000}\nlast\n<== exit 0\n==> \S+ script-2: \/bin\/echo again\nagain\n<== exit 0\n$/);
  });

  it('reports a signal as 128+N and a missing program as 127', async () => {
    expect((await system.run(['/bin/sh', '-c', 'kill -9 $$'], { env: cleanEnv('/root') })).code).toBe(137);
    const missing = await system.run(['/nonexistent/prog'], { env: cleanEnv('/root') });
    expect(missing.code).toBe(127);
    expect(missing.output.toString()).toContain('/nonexistent/prog');
  });
});
