import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { installUserland } from './guest-userland.js';

const dir = mkdtempSync(join(tmpdir(), 'lodge-userland-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A real .deb holding `files` files of 1 MiB of random bytes (slow enough to unpack that a sibling failure races it). */
function bigDeb(name: string, files: number): string {
  const tree = join(dir, `${name}-tree`);
  mkdirSync(join(tree, 'DEBIAN'), { recursive: true });
  mkdirSync(join(tree, 'usr/share', name), { recursive: true });
  writeFileSync(join(tree, 'DEBIAN/control'), `Package: ${name}\nVersion: 1\nArchitecture: all\nMaintainer: t <t@t>\nDescription: t\n`);
  for (let i = 0; i < files; i++) writeFileSync(join(tree, 'usr/share', name, `f${i}`), execFileSync('head', ['-c', '1048576', '/dev/urandom']));
  const deb = join(dir, `${name}.deb`);
  execFileSync('dpkg-deb', ['-Zgzip', '--build', tree, deb], { stdio: 'ignore' });
  return deb;
}

/** dpkg-deb processes unpacking one of this test's packages. */
function unpacking(): string[] {
  try {
    return execFileSync('pgrep', ['-af', `dpkg-deb.*${dir}`], { encoding: 'utf8' }).trim().split('\n');
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

describe('installUserland', () => {
  it('on a failed package, waits for the other unpack before failing, so the caller can remove the root at once', async () => {
    const broken = join(dir, 'broken.deb');
    writeFileSync(broken, 'not a deb');
    const big = bigDeb('big', 48);
    const root = join(dir, 'root');
    const next = bigDeb('next', 1);
    await expect(installUserland(root, [broken, big, next])).rejects.toThrow(/dpkg-deb/);
    // Nothing is still writing into root when the failure arrives, and the queue stopped at it.
    expect(unpacking()).toEqual([]);
    expect(readdirSync(join(root, 'usr/share'))).toEqual(['big']);
    await rm(root, { recursive: true });
  });
});
