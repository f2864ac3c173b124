import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { takeOver, withBuildLock } from './build-lock.js';

const dirs: string[] = [];
const scratch = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'build-lock-'));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('withBuildLock', () => {
  it('runs a second build of the same image only after the first ended, and says it waits for whom', async () => {
    const imagesDir = scratch();
    const order: string[] = [];
    let release = (): void => undefined;
    const first = withBuildLock({ imagesDir, name: 'micro' }, async () => {
      order.push('first start');
      await new Promise<void>((r) => (release = r));
      order.push('first end');
    });
    await new Promise((r) => setTimeout(r, 50));
    const waits: number[] = [];
    const second = withBuildLock({ imagesDir, name: 'micro', onWait: (pid) => waits.push(pid) }, async () => void order.push('second'));
    await new Promise((r) => setTimeout(r, 600));
    expect(order).toEqual(['first start']);
    expect(readFileSync(join(imagesDir, '.micro.lock'), 'utf8')).toMatch(new RegExp(`^${process.pid} \\d+\\n$`));
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first start', 'first end', 'second']);
    expect(waits).toEqual([process.pid]);
    expect(existsSync(join(imagesDir, '.micro.lock'))).toBe(false);
  });

  it('does not hold up a build of another image', async () => {
    const imagesDir = scratch();
    let release = (): void => undefined;
    const first = withBuildLock({ imagesDir, name: 'micro' }, () => new Promise<void>((r) => (release = r)));
    await new Promise((r) => setTimeout(r, 50));
    expect(await withBuildLock({ imagesDir, name: 'debian-12' }, async () => 'built')).toBe('built');
    release();
    await first;
  });

  it('takes over the lock of a build whose process is gone, or whose pid now belongs to another process', async () => {
    const imagesDir = scratch();
    const gone = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
    writeFileSync(join(imagesDir, '.micro.lock'), `${gone} 12345\n`);
    expect(await withBuildLock({ imagesDir, name: 'micro' }, async () => 'ran')).toBe('ran');
    writeFileSync(join(imagesDir, '.micro.lock'), `${process.pid} 1\n`); // our pid, another start time
    expect(await withBuildLock({ imagesDir, name: 'micro' }, async () => 'ran again')).toBe('ran again');
  });

  it('takes over only the dead lock it judged: a live lock that replaced it meanwhile stays', async () => {
    const imagesDir = scratch();
    const path = join(imagesDir, '.micro.lock');
    writeFileSync(path, '4242 1\n'); // another waiter already replaced the dead lock with its own
    await takeOver(path, '999999 1');
    expect(readFileSync(path, 'utf8')).toBe('4242 1\n');
    writeFileSync(path, '999999 1\n');
    await takeOver(path, '999999 1');
    expect(readdirSync(imagesDir)).toEqual([]);
    await takeOver(path, '999999 1'); // gone already: nothing to do
  });

  it('releases the lock when the build fails, and stops waiting when aborted', async () => {
    const imagesDir = scratch();
    await expect(withBuildLock({ imagesDir, name: 'micro' }, async () => Promise.reject(new Error('apt failed')))).rejects.toThrow('apt failed');
    expect(existsSync(join(imagesDir, '.micro.lock'))).toBe(false);
    let release = (): void => undefined;
    const holder = withBuildLock({ imagesDir, name: 'micro' }, () => new Promise<void>((r) => (release = r)));
    await new Promise((r) => setTimeout(r, 50));
    const ac = new AbortController();
    const waiting = withBuildLock({ imagesDir, name: 'micro', signal: ac.signal }, async () => 'should not run');
    setTimeout(() => ac.abort(new Error('build cancelled')), 100);
    await expect(waiting).rejects.toThrow('build cancelled');
    release();
    await holder;
  });
});
