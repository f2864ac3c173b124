import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileTreeWriter, readFileTree, type TreeItem } from '@lodge/client';
import { CLI, sleep, TestLodge } from './harness.js';


/** A background CLI process whose output is collected (listeners, servers). */
function background(lodge: TestLodge, args: string[]): { out: () => string; done: Promise<number | null>; kill: () => void } {
  const child = spawn(CLI, args, { env: lodge.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return { out: () => out, done: new Promise((r) => child.on('close', r)), kill: () => child.kill('SIGKILL') };
}

describe('files and messages between host and guest', () => {
  const lodge = new TestLodge();
  const guestExec = async (script: string): Promise<string> => {
    const r = await lodge.cli(['exec', 'fb', '--', 'sh', '-c', script]);
    if (r.code !== 0) throw new Error(`guest script failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  beforeAll(async () => {
    await lodge.startDaemon();
    await lodge.bootVm('fb', ['--memory', '384M']);
  });
  afterAll(() => lodge.cleanup());

  it('copies a folder tree host → guest → host with contents, modes and symlinks kept', async () => {
    const src = join(lodge.home, 'tree');
    mkdirSync(join(src, 'sub/deeper'), { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'alpha\n');
    writeFileSync(join(src, 'sub/run.sh'), '#!/bin/sh\necho run\n');
    chmodSync(join(src, 'sub/run.sh'), 0o750);
    writeFileSync(join(src, 'sub/deeper/secret'), 'x'.repeat(3_000_000));
    chmodSync(join(src, 'sub/deeper/secret'), 0o600);
    // Big files back to back, then a small one (through lodge-port's sinks and sources, and JS for the small).
    const bigs = [randomBytes(5_000_011), randomBytes(1_048_576), randomBytes(70_000)];
    bigs.forEach((b, i) => writeFileSync(join(src, `sub/deeper/big${i}`), b));
    writeFileSync(join(src, 'sub/deeper/small'), 'after the big ones\n');
    symlinkSync('../a.txt', join(src, 'sub/link'));
    chmodSync(join(src, 'sub/deeper'), 0o711);

    const up = await lodge.cli(['cp', src, 'fb:/tmp/up']);
    expect(up.code, up.stderr).toBe(0);
    const listing = await guestExec('cd /tmp/up && stat -c "%n %a %s" a.txt sub/run.sh sub/deeper/secret && stat -c "%n %a" sub/deeper && readlink sub/link && sub/run.sh');
    expect(listing).toBe('a.txt 644 6\nsub/run.sh 750 19\nsub/deeper/secret 600 3000000\nsub/deeper 711\n../a.txt\nrun\n');

    const back = join(lodge.home, 'back');
    const down = await lodge.cli(['cp', 'fb:/tmp/up', back]);
    expect(down.code, down.stderr).toBe(0);
    expect(readFileSync(join(back, 'a.txt'), 'utf8')).toBe('alpha\n');
    expect(statSync(join(back, 'sub/run.sh')).mode & 0o777).toBe(0o750);
    expect(statSync(join(back, 'sub/deeper')).mode & 0o777).toBe(0o711);
    expect(statSync(join(back, 'sub/deeper/secret')).mode & 0o777).toBe(0o600);
    expect(statSync(join(back, 'sub/deeper/secret')).size).toBe(3_000_000);
    bigs.forEach((b, i) => expect(readFileSync(join(back, `sub/deeper/big${i}`)).equals(b), `big${i}`).toBe(true));
    expect(readFileSync(join(back, 'sub/deeper/small'), 'utf8')).toBe('after the big ones\n');
    // In the guest too (the way up alone), byte for byte.
    const sums = await guestExec('cd /tmp/up/sub/deeper && md5sum big0 big1 big2');
    expect(sums).toBe(bigs.map((b, i) => `${createHash('md5').update(b).digest('hex')}  big${i}\n`).join(''));
    expect(lstatSync(join(back, 'sub/link')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(back, 'sub/link'))).toBe('../a.txt');

    // Into an existing folder: the tree lands inside it, as cp -r does.
    mkdirSync(join(lodge.home, 'into'));
    expect((await lodge.cli(['cp', 'fb:/tmp/up/sub/run.sh', join(lodge.home, 'into')])).code).toBe(0);
    expect(readFileSync(join(lodge.home, 'into/run.sh'), 'utf8')).toContain('echo run');
  });

  it('lends big files to lodged (it reads and writes them on the host): only small files cross the socket', async () => {
    const src = join(lodge.home, 'lent');
    mkdirSync(src);
    const big = randomBytes(2_500_000);
    writeFileSync(join(src, 'big'), big);
    chmodSync(join(src, 'big'), 0o640);
    writeFileSync(join(src, 'small'), 'small\n');
    const md5 = createHash('md5').update(big).digest('hex');

    let sent = 0;
    const progress: number[] = [];
    const counted = async function* (): AsyncGenerator<TreeItem> {
      for await (const item of readFileTree(src, { lend: true })) yield ('data' in item && (sent += item.data.length), item);
    };
    await lodge.client.putFiles('fb', '/tmp/lent', counted(), { progress: (bytes) => progress.push(bytes) });
    expect(sent).toBe(6);
    expect(progress.at(-1)).toBe(big.length);
    expect(await guestExec('cd /tmp/lent && stat -c "%a %s" big && md5sum big && cat small')).toBe(`640 2500000\n${md5}  big\nsmall\n`);

    const back = join(lodge.home, 'lent-back');
    const writer = new FileTreeWriter(back);
    let received = 0;
    const written: string[] = [];
    await lodge.client.getFiles('fb', '/tmp/lent', {
      entry: (e) => writer.entry(e),
      data: (chunk) => ((received += chunk.length), writer.data(chunk)),
      lend: () => writer.lend(),
      written: async (path) => (written.push(path), await writer.written(path)),
    });
    expect(await writer.finish()).toEqual({ entries: 3, files: 2, bytes: big.length + 6 });
    expect(received).toBe(6);
    expect(written).toEqual(['lent/big']);
    expect(readFileSync(join(back, 'big')).equals(big)).toBe(true);
    expect(statSync(join(back, 'big')).mode & 0o777).toBe(0o640);
    expect(readFileSync(join(back, 'small'), 'utf8')).toBe('small\n');
  });

  it('a guest symlink pointing outside is copied as a link, never followed on the host', async () => {
    await guestExec('mkdir -p /tmp/sneaky && ln -sf /etc /tmp/sneaky/etc && ln -sf ../../../../../../root /tmp/sneaky/up');
    const dest = join(lodge.home, 'sneaky');
    const r = await lodge.cli(['cp', 'fb:/tmp/sneaky', dest]);
    expect(r.code, r.stderr).toBe(0);
    expect(lstatSync(join(dest, 'etc')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dest, 'up'))).toBe('../../../../../../root');
  });

  it('path traversal in an upload is refused and writes nothing outside the destination', async () => {
    const entries = [
      { entry: { path: 'ok', kind: 'dir' as const, mode: 0o755, size: 0, mtimeMs: Date.now() } },
      { entry: { path: 'ok/../../escaped', kind: 'file' as const, mode: 0o644, size: 3, mtimeMs: Date.now() } },
      { data: Buffer.from('bad') },
    ];
    const source = { async *[Symbol.asyncIterator]() { yield* entries; } };
    await expect(lodge.client.putFiles('fb', '/tmp/trav/dest', source)).rejects.toThrow(/\.\./);
    expect(await guestExec('ls /tmp/escaped /tmp/trav/escaped 2>/dev/null || echo none')).toBe('none\n');
    // A missing guest path and a relative one are clear errors.
    const missing = await lodge.cli(['cp', 'fb:/no/such/file', join(lodge.home, 'x')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/\/no\/such\/file/);
    expect(existsSync(join(lodge.home, 'x'))).toBe(false);
  });

  it('messages both ways: guest → host listener, host → guest listener, in order', async () => {
    const listener = background(lodge, ['listen', 'fb', 'greetings', '--count', '3']);
    await sleep(500);
    await guestExec('for i in 1 2 3; do lodge-guest send greetings "hello $i"; done');
    expect(await listener.done).toBe(0);
    expect(listener.out()).toBe('hello 1\nhello 2\nhello 3\n');

    const guestListener = lodge.cli(['exec', 'fb', '--', 'lodge-guest', 'listen', 'orders', '--count', '2']);
    await sleep(2500); // node starts in ~1.5 s in the guest
    let delivered = 0;
    for (let i = 0; i < 40 && delivered === 0; i++) {
      const r = await lodge.cli(['send', 'fb', 'orders', 'first', '--json']);
      delivered = r.code === 0 ? (JSON.parse(r.stdout) as { delivered: number }).delivered : 0;
      if (delivered === 0) await sleep(250);
    }
    expect((await lodge.cli(['send', 'fb', 'orders', 'second'])).code).toBe(0);
    expect((await guestListener).stdout).toBe('first\nsecond\n');
  });

  it('request/reply both ways', async () => {
    const server = lodge.cli(['exec', 'fb', '--', 'lodge-guest', 'serve', 'upper', '--count', '1', '--', 'tr', 'a-z', 'A-Z']);
    let reply = '';
    for (let i = 0; i < 40 && reply === ''; i++) {
      const r = await lodge.cli(['request', 'fb', 'upper', 'shout this', '--timeout', '2']);
      reply = r.code === 0 ? r.stdout : '';
      if (!reply) await sleep(250);
    }
    expect(reply).toBe('SHOUT THIS');
    expect((await server).code).toBe(0);

    // The guest asks, a host program answers through the client library.
    const sub = await lodge.client.subscribe('fb', 'host.time', (msg) => {
      if (msg.replyTo) void lodge.client.publish('fb', msg.replyTo, Buffer.from(`pong:${Buffer.from(msg.data, 'base64').toString()}`));
    });
    try {
      expect(await guestExec('lodge-guest request host.time ping --timeout 10')).toBe('pong:ping\n');
    } finally {
      sub.close();
    }
    const none = await lodge.cli(['request', 'fb', 'nobody.home', 'x', '--timeout', '1']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/nobody subscribes/);
  });
});
