import { createServer } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { expect, it } from 'vitest';
import { AgentLink } from './agent-link.js';

it('sends only a few Hellos to a port nobody answers (QEMU would deliver the backlog in one burst)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lodge-link-'));
  const path = join(dir, 'agent.sock');
  let received = 0;
  const server = createServer((sock) => sock.on('data', (d: Buffer) => (received += d.length)));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const link = new AgentLink({ endpoint: path, logger: pino({ level: 'silent' }), onPublish: () => undefined, timing: { helloIntervalMs: 5 } });
  try {
    await new Promise((r) => setTimeout(r, 1000));
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(4096 + 512);
    expect(link.state).toBe('connecting');
  } finally {
    link.close();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  }
});
