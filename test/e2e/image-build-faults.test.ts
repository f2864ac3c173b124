import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGES_DIR, TestLodge } from './harness.js';

// Image builds that fail: a recipe naming a package apt does not know, and a build whose images folder (a small
// tmpfs) fills up mid-build. Each must say why, leave no image and no temp folder, and not block a later build.
const run = promisify(execFile);
const MiB = 2 ** 20;

/** What the store holds besides caches: images and temp folders (dot names but .cache). */
const leftovers = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => n !== '.cache');

describe('a recipe with an unknown package', () => {
  let dir: string;
  let lodge: TestLodge;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lodge-faults-'));
    lodge = new TestLodge({ LODGE_IMAGES_DIR: join(dir, 'images') });
    await lodge.startDaemon();
  });
  afterAll(async () => {
    await lodge.cleanup();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('fails at once naming the package, with nothing left in the store', async () => {
    const file = join(dir, 'tools.yaml');
    await writeFile(file, 'name: tools\nbase: debian-12\npackages: [less, lodge-no-such-package]\n');
    const t0 = performance.now();
    const r = await lodge.cli(['image', 'build', '--recipe', file]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('image recipe "tools": Debian package "lodge-no-such-package" is not available from apt');
    expect(performance.now() - t0).toBeLessThan(30_000); // before any download or mmdebstrap
    expect(await leftovers(join(dir, 'images'))).toEqual([]);
    expect((await lodge.cliJson<unknown[]>(['image', 'list'])).length).toBe(0);
  });

  it('refuses a bad recipe file in the CLI, naming the file and the field', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'name: tools\npackage: [less]\n');
    const r = await lodge.cli(['image', 'build', '--recipe', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`image recipe ${file} is not valid: unknown field(s) "package"`);
  });
});

describe('a full disk during a build', () => {
  let mnt: string;
  let lodge: TestLodge;
  let mounted = false;
  beforeAll(async () => {
    mnt = await mkdtemp(join(tmpdir(), 'lodge-full-'));
    // Room for micro's package caches (copied in: no download) and ~120 MiB more; the build needs ~450 MiB more.
    await run('mount', ['-t', 'tmpfs', '-o', 'size=220m', 'lodge-test-full', mnt]);
    mounted = true;
    await mkdir(join(mnt, '.cache'));
    for (const c of ['debs', 'apt']) await cp(join(IMAGES_DIR, '.cache', c), join(mnt, '.cache', c), { recursive: true });
    lodge = new TestLodge({ LODGE_IMAGES_DIR: mnt });
    await lodge.startDaemon();
  });
  afterAll(async () => {
    await lodge?.cleanup();
    if (mounted) await run('umount', ['-l', mnt]).catch((err: unknown) => console.error(`umount ${mnt}: ${String(err)}`));
    await rm(mnt, { recursive: true, force: true });
  }, 60_000);

  it('says no space was left, where, and how much the build needs; nothing half-written stays', async () => {
    const r = await lodge.cli(['image', 'build', 'micro'], { timeoutMs: 300_000 });
    console.log(r.stderr.trim().split('\n').slice(-3).join('\n'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`no space left on device in ${mnt} while building image "micro" \\(at: [^)]+\\): the build needs about \\d+M free there, [\\d.]+[KM]? is free now`));
    expect(await leftovers(mnt)).toEqual([]);
    expect(await lodge.cliJson<unknown[]>(['image', 'list'])).toEqual([]);
  }, 300_000);

  it('a later build with room succeeds', async () => {
    await run('mount', ['-o', `remount,size=${900}m`, mnt]);
    const r = await lodge.cli(['image', 'build', 'micro'], { timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    const images = await lodge.cliJson<{ name: string; sizeBytes: number }[]>(['image', 'list']);
    expect(images.map((i) => i.name)).toEqual(['micro']);
    expect(images[0]?.sizeBytes).toBeGreaterThan(50 * MiB);
    expect((await leftovers(mnt)).sort()).toEqual(['micro']);
  }, 300_000);
});
