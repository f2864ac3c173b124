import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Channel, INITIAL_WINDOW } from '@lodge/api/guest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { compileSpawner, run, startHarness, type Harness } from './test-harness.js';

// Every case runs twice: children started by Node's spawn, and by lodge-spawn (the real binary, compiled here).
describe.each(['node-spawn', 'lodge-spawn'])('exec via %s', (via) => {
let h: Harness;
let binDir: string | undefined;
beforeAll(async () => {
  if (via === 'node-spawn') h = await startHarness();
  else {
    binDir = mkdtempSync(`${tmpdir()}/lodge-spawn-bin-`);
    h = await startHarness({ spawner: { binary: compileSpawner(binDir) } });
  }
});
afterAll(async () => {
  await h?.close();
  if (binDir) rmSync(binDir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  return !alive(pid);
}

describe('exec', () => {
  it('reports exit codes 0 and 1 and a start control with the pid', async () => {
    const ok = await run(h.host, { op: 'exec', argv: ['true'] });
    expect(ok.result).toEqual({ exitCode: 0, signal: null, timedOut: false });
    expect(ok.controls[0]).toMatchObject({ type: 'started', pid: expect.any(Number) });
    const fail = await run(h.host, { op: 'exec', argv: ['false'] });
    expect(fail.result).toEqual({ exitCode: 1, signal: null, timedOut: false });
  });

  it('starts programs through the configured spawn', async () => {
    const parent = (await run(h.host, { op: 'exec', argv: ['sh', '-c', 'cat /proc/$PPID/comm'] })).stdout.toString();
    if (via === 'lodge-spawn') expect(parent).toBe('lodge-spawn\n');
    else expect(parent).not.toBe('lodge-spawn\n');
  });

  // Node's spawn (libuv) gives unix socketpairs, which a program cannot reopen (/dev/stdout: ENXIO); lodge-spawn gives pipes.
  it.runIf(via === 'lodge-spawn')('gives the program real pipes: /dev/stdout, /dev/stderr, /dev/stdin reopen, test -p, tee', async () => {
    const r = await run(h.host, { op: 'exec', argv: ['sh', '-c', 'echo hi > /dev/stdout; echo oops > /dev/stderr; [ -p /dev/stdout ] && echo pipe'] });
    expect(r.result).toMatchObject({ exitCode: 0 });
    expect([r.stdout.toString(), r.stderr.toString()]).toEqual(['hi\npipe\n', 'oops\n']);
    const tee = await run(h.host, { op: 'exec', argv: ['sh', '-c', 'echo both | tee /dev/stderr'] });
    expect([tee.stdout.toString(), tee.stderr.toString()]).toEqual(['both\n', 'both\n']);
    const input = await run(h.host, { op: 'exec', argv: ['sh', '-c', 'sleep 0.2; [ -p /dev/stdin ] && cat /dev/stdin'], stdin: true }, 'in\n');
    expect([input.result, input.stdout.toString()]).toEqual([{ exitCode: 0, signal: null, timedOut: false }, 'in\n']);
  });

  it('reports death by SIGKILL as exitCode null, signal SIGKILL', async () => {
    const r = await run(h.host, { op: 'exec', argv: ['sh', '-c', 'kill -9 $$'] });
    expect(r.result).toEqual({ exitCode: null, signal: 'SIGKILL', timedOut: false });
  });

  it('keeps stdout and stderr apart and passes env and cwd', async () => {
    const r = await run(h.host, { op: 'exec', argv: ['sh', '-c', 'echo out:$FOO; echo err >&2; pwd'], env: { FOO: 'bar' }, cwd: h.dir });
    expect(r.stdout.toString()).toBe(`out:bar\n${h.dir}\n`);
    expect(r.stderr.toString()).toBe('err\n');
  });

  it('sends all output before the exit code', async () => {
    const r = await run(h.host, { op: 'exec', argv: ['sh', '-c', 'head -c 3000000 /dev/zero; echo tail >&2; exit 7'] });
    expect(r.stdout.length).toBe(3_000_000);
    expect(r.stderr.toString()).toBe('tail\n');
    expect(r.result).toMatchObject({ exitCode: 7 });
  });

  it('streams 20 MB of stdout within the credit (memory stays bounded)', async () => {
    const stream = h.host.open({ op: 'exec', argv: ['head', '-c', '20000000', '/dev/zero'] });
    let received = 0;
    let holding = false;
    let held = 0;
    let heldMax = 0;
    const rss0 = process.memoryUsage().rss;
    stream.on('data', (channel, chunk) => {
      received += chunk.length;
      if (holding) {
        held += chunk.length;
        heldMax = Math.max(heldMax, held);
        return;
      }
      stream.consumed(channel, chunk.length);
      // Hold all credit back for 300 ms once: the guest must stop at the window, not buffer.
      if (received > 1_000_000 && heldMax === 0 && !holding) {
        holding = true;
        setTimeout(() => {
          holding = false;
          stream.consumed(channel, held);
          held = 0;
        }, 300);
      }
    });
    const result = await stream.result();
    expect(result).toEqual({ exitCode: 0, signal: null, timedOut: false });
    expect(received).toBe(20_000_000);
    expect(heldMax).toBeGreaterThan(0);
    expect(heldMax).toBeLessThanOrEqual(INITIAL_WINDOW);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(100 * 1024 * 1024);
  });

  it('streams stdin to the program and closes it on Close ch 0', async () => {
    const input = Buffer.alloc(5_000_000);
    for (let i = 0; i < input.length; i++) input[i] = (i * 7) & 0xff;
    const r = await run(h.host, { op: 'exec', argv: ['sha256sum'], stdin: true }, input);
    expect(r.stdout.toString().split(' ')[0]).toBe(createHash('sha256').update(input).digest('hex'));
    expect(r.result).toMatchObject({ exitCode: 0 });
  });

  it('kills the program at timeoutMs and says so', async () => {
    const t0 = Date.now();
    const r = await run(h.host, { op: 'exec', argv: ['sleep', '10'], timeoutMs: 300 });
    expect(r.result).toEqual({ exitCode: null, signal: 'SIGKILL', timedOut: true });
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('relays a signal control', async () => {
    const r = await run(h.host, { op: 'exec', argv: ['sleep', '10'] }, undefined, (s) =>
      s.once('control', () => s.control({ type: 'signal', signal: 'SIGTERM' })),
    );
    expect(r.result).toEqual({ exitCode: null, signal: 'SIGTERM', timedOut: false });
  });

  it('kills the program when the host cancels', async () => {
    const stream = h.host.open({ op: 'exec', argv: ['sleep', '30'] });
    const pid = await new Promise<number>((resolve) => stream.once('control', (m) => resolve((m as { pid: number }).pid)));
    expect(alive(pid)).toBe(true);
    stream.reset({ code: 'cancelled', message: 'test cancel' });
    expect(await waitGone(pid)).toBe(true);
  });

  it('answers not_found for a missing program and a missing cwd; only the program gets a shell status (127)', async () => {
    const r = await run(h.host, { op: 'exec', argv: ['no-such-program-xyz'] });
    expect(r.error?.code).toBe('not_found');
    expect(r.error?.message).toMatch(/^no-such-program-xyz: not found in the guest \(PATH=.*\/usr\/bin/);
    expect(r.error).toMatchObject({ shellStatus: 127 });
    const onTty = await run(h.host, { op: 'exec', argv: ['/no/such-program'], tty: { rows: 24, cols: 80 } });
    expect(onTty.error).toMatchObject({ code: 'not_found', shellStatus: 127 });
    const c = await run(h.host, { op: 'exec', argv: ['true'], cwd: '/no/such/dir' });
    expect(c.error).toMatchObject({ code: 'not_found', message: expect.stringContaining('/no/such/dir'), shellStatus: undefined });
  });

  it('answers permission_denied with shell status 126 for a program that cannot run (no x bit)', async () => {
    const r = await run(h.host, { op: 'exec', argv: ['/etc/passwd'] });
    expect(r.error).toMatchObject({ code: 'permission_denied', message: '/etc/passwd: permission denied in the guest', shellStatus: 126 });
  });

  it('refuses malformed requests with invalid_argument', async () => {
    const bad = [
      { op: 'exec', argv: [] },
      { op: 'exec', argv: 'ls' },
      { op: 'exec', argv: ['ls'], env: { A: 1 } },
      { op: 'exec', argv: ['ls'], timeoutMs: -5 },
      { op: 'exec', argv: ['ls'], tty: { rows: 0, cols: 80 } },
      { op: 'nope' },
    ];
    for (const request of bad) {
      const r = await run(h.host, request as never);
      expect(r.error?.code, JSON.stringify(request)).toBe('invalid_argument');
    }
  });

  it('runs as another user from /etc/passwd', async () => {
    const r = await run(h.host, { op: 'exec', argv: ['sh', '-c', 'id -u; echo $HOME $USER'], user: 'nobody', cwd: '/' });
    expect(r.stdout.toString()).toBe('65534\n/nonexistent nobody\n');
    const missing = await run(h.host, { op: 'exec', argv: ['true'], user: 'no-such-user' });
    expect(missing.error).toMatchObject({ code: 'not_found', shellStatus: undefined });
  });

  it('ignores host data on ch 0 when stdin was not asked for, returning the credit', async () => {
    const stream = h.host.open({ op: 'exec', argv: ['sh', '-c', 'sleep 0.2; echo done'] });
    await stream.write(Channel.Input, Buffer.alloc(300_000));
    expect(await stream.result()).toMatchObject({ exitCode: 0 });
  });
});
});
