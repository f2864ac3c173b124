import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { probeVsock, VHOST_VSOCK_DEVICE } from './vsock-probe.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vsock-probe-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

it('opens the real device path for real: available exactly when it exists as a device here', async () => {
  const result = await probeVsock();
  // This host has no vhost-vsock (FACTS.md); a host that has it must report it.
  expect(result.available).toBe(existsSync(VHOST_VSOCK_DEVICE));
  if (!result.available) expect(result.note).toContain(VHOST_VSOCK_DEVICE);
});

it('a path that does not exist is not available, and says which module to load', async () => {
  expect(await probeVsock(join(dir, 'missing'))).toEqual({ available: false, note: expect.stringContaining('modprobe vhost_vsock') });
});

it('a regular file that opens read-write is not a device', async () => {
  const file = join(dir, 'plain');
  await writeFile(file, '');
  expect(await probeVsock(file)).toEqual({ available: false, note: expect.stringContaining('is not a character device') });
});

it('a character device that opens read-write counts (/dev/null stands in for the device)', async () => {
  expect((await probeVsock('/dev/null')).available).toBe(true);
});

it('a folder cannot be opened read-write', async () => {
  expect(await probeVsock(dir)).toEqual({ available: false, note: expect.stringContaining('EISDIR') });
});
