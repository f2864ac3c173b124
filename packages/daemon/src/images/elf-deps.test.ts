import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { missingLibraries, readElfDeps, resolveInRoot } from './elf-deps.js';

// The host is Debian (x86-64, glibc): its own /bin/true is a dynamically linked ELF to test with.
const LOADER = '/lib64/ld-linux-x86-64.so.2';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'lodge-elf-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('readElfDeps', () => {
  it('reads the loader and the needed sonames of a dynamic executable', async () => {
    const deps = await readElfDeps('/bin/true');
    expect(deps?.interp).toBe(LOADER);
    expect(deps?.needed).toContain('libc.so.6');
  });

  it('says undefined for files that are not ELF', async () => {
    await writeFile(join(root, 'script'), '#!/bin/sh\nexit 0\n');
    expect(await readElfDeps(join(root, 'script'))).toBeUndefined();
  });
});

describe('resolveInRoot', () => {
  it('follows absolute symlinks inside the root, never into the host', async () => {
    await mkdir(join(root, 'lib/x86_64-linux-gnu'), { recursive: true });
    await writeFile(join(root, 'lib/x86_64-linux-gnu/ld.so'), 'x');
    await symlink('/lib', join(root, 'lib64'));
    await symlink('/lib/x86_64-linux-gnu/ld.so', join(root, 'lib/ld-link'));
    expect(await resolveInRoot(root, '/lib64/ld-link')).toBe('/lib/x86_64-linux-gnu/ld.so');
    await symlink('/etc/hostname', join(root, 'host-file')); // exists on the host, not in the root
    expect(await resolveInRoot(root, '/host-file')).toBeUndefined();
    await symlink('loop', join(root, 'loop'));
    expect(await resolveInRoot(root, '/loop')).toBeUndefined();
  });
});

describe('missingLibraries', () => {
  it('lists the loader and libraries a program cannot find in the root, and nothing once they are there', async () => {
    await mkdir(join(root, 'bin'), { recursive: true });
    await copyFile('/bin/true', join(root, 'bin/true'));
    const missing = await missingLibraries(root, ['/bin/true']);
    expect(missing).toContain('/bin/true: libc.so.6');
    expect(missing).toContain(`/bin/true: ${LOADER}`);

    // As Debian lays it out: the real files in the multiarch folder, /lib64/ld-linux... an absolute symlink.
    const multiarch = join(root, 'lib/x86_64-linux-gnu');
    await mkdir(multiarch, { recursive: true });
    await mkdir(join(root, 'lib64'));
    await writeFile(join(multiarch, 'libc.so.6'), await readFile('/lib/x86_64-linux-gnu/libc.so.6'));
    await writeFile(join(multiarch, 'ld-linux-x86-64.so.2'), await readFile('/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'));
    await symlink('/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', join(root, LOADER));
    expect(await missingLibraries(root, ['/bin/true'])).toEqual([]);
  });

  it('reports a program that is not there', async () => {
    expect(await missingLibraries(root, ['/usr/bin/node'])).toEqual(['(program): /usr/bin/node']);
  });
});
