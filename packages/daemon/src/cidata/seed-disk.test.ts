import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { specFromCreate, VmCreateRequest } from '@lodge/api';
import { seedOf } from './cloud-config.js';
import { writeSeedDisk } from './seed-disk.js';

describe('writeSeedDisk', () => {
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('writes an ISO labelled cidata holding meta-data and user-data, and nothing else beside it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lodge-seed-'));
    dirs.push(dir);
    const seed = seedOf(specFromCreate(VmCreateRequest.parse({ name: 'dev', user: { name: 'al' }, packages: ['git'] })));
    const iso = join(dir, 'cidata.iso');
    await writeSeedDisk(seed, iso);
    expect(await readdir(dir)).toEqual(['cidata.iso']);
    expect((await stat(iso)).mode & 0o777).toBe(0o644);
    // The primary volume descriptor (sector 16) holds the volume id at byte 40.
    const pvd = (await readFile(iso)).subarray(16 * 2048, 17 * 2048);
    expect(pvd.subarray(40, 72).toString('ascii').trim()).toBe('cidata');
    const out = join(dir, 'out');
    execFileSync('osirrox', ['-indev', iso, '-extract', '/', out], { stdio: 'ignore' });
    const userData = await readFile(join(out, 'user-data'), 'utf8');
    expect(userData.split('\n')[0]).toBe('#cloud-config');
    expect(JSON.parse(userData.slice(userData.indexOf('\n') + 1))).toEqual(seed.userData);
    expect(JSON.parse(await readFile(join(out, 'meta-data'), 'utf8'))).toEqual(seed.metaData);
  });
});
