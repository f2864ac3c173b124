import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appletPaths, listTree } from './busybox-tree.js';

describe('appletPaths', () => {
  it('keeps applets with a folder, drops busybox itself, top-level names and escapes', () => {
    const list = 'bin/busybox\nbin/sh\nlinuxrc\nsbin/init\nusr/bin/[\n/usr/sbin/chroot\n../etc/passwd\n\n';
    expect(appletPaths(list)).toEqual(['bin/sh', 'sbin/init', 'usr/bin/[', 'usr/sbin/chroot']);
  });
});

describe('listTree', () => {
  it('lists parents before children, sorted, relative to the root', async () => {
    const root = await mkdtemp(join(tmpdir(), 'lodge-tree-'));
    try {
      await mkdir(join(root, 'lib/modules'), { recursive: true });
      await writeFile(join(root, 'init'), '');
      await writeFile(join(root, 'lib/modules/load'), '');
      expect(await listTree(root)).toEqual(['./init', './lib', './lib/modules', './lib/modules/load']);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
