import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpawnedChild } from './spawned-child.js';
import { Spawner, type SpawnRequest } from './spawner.js';
import { compileSpawner, isRunning, processesRunning } from './test-harness.js';
import { supplementaryGroups } from './user-db.js';

let dir: string;
let binary: string;
let spawner: Spawner;
beforeAll(async () => {
  dir = mkdtempSync(`${tmpdir()}/lodge-spawner-test-`);
  binary = compileSpawner(dir);
  spawner = Spawner.start(binary);
});
afterAll(async () => {
  await spawner?.close();
  rmSync(dir, { recursive: true, force: true });
});

const ENV = { PATH: '/usr/bin:/bin' };

/** All of one output; a socket the program wrote nothing to may have ended before 'spawn'. */
function collect(stream: Readable | null): Promise<Buffer> {
  if (!stream || stream.readableEnded) return Promise.resolve(Buffer.alloc(0));
  const parts: Buffer[] = [];
  stream.on('data', (c: Buffer) => parts.push(c));
  stream.resume();
  return new Promise((resolve) => stream.once('end', () => resolve(Buffer.concat(parts))));
}

interface Outcome {
  pid: number;
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Starts one program, feeds `input`, and waits for its exit and the end of both outputs. */
async function runOne(request: Partial<SpawnRequest> & { argv: string[] }, input?: Buffer, on?: (c: SpawnedChild) => void): Promise<Outcome> {
  const child = spawner.spawn({ env: ENV, cwd: '/', stdin: input !== undefined, ...request });
  const exit = new Promise<[number | null, string | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  if (input) child.stdin?.end(input);
  on?.(child);
  const [stdout, stderr, [code, signal]] = await Promise.all([collect(child.stdout), collect(child.stderr), exit]);
  return { pid: child.pid as number, code, signal, stdout: stdout.toString(), stderr: stderr.toString() };
}


function startError(request: Partial<SpawnRequest> & { argv: string[] }): Promise<NodeJS.ErrnoException> {
  const child = spawner.spawn({ env: ENV, cwd: '/', stdin: false, ...request });
  return new Promise((resolve, reject) => {
    child.once('error', resolve);
    child.once('spawn', () => reject(new Error('it started')));
  });
}

describe('Spawner (the real lodge-spawn)', () => {
  it('reports exit codes, keeps stdout and stderr apart, passes env and cwd', async () => {
    const r = await runOne({ argv: ['sh', '-c', 'echo out $FOO; pwd; echo err >&2; exit 3'], env: { ...ENV, FOO: 'bar' }, cwd: dir });
    expect(r).toMatchObject({ code: 3, signal: null, stdout: `out bar\n${dir}\n`, stderr: 'err\n' });
    expect(r.pid).toBeGreaterThan(0);
    expect((await runOne({ argv: ['true'] })).code).toBe(0);
  });

  it('reports death by a signal, and relays kill()', async () => {
    expect(await runOne({ argv: ['sh', '-c', 'kill -9 $$'] })).toMatchObject({ code: null, signal: 'SIGKILL' });
    const r = await runOne({ argv: ['sleep', '30'] }, undefined, (c) => c.kill('SIGTERM'));
    expect(r).toMatchObject({ code: null, signal: 'SIGTERM' });
  });

  it('fails with ENOENT or EACCES as Node spawn does, and refuses NUL bytes', async () => {
    expect((await startError({ argv: ['no-such-program-xyz'] })).code).toBe('ENOENT');
    writeFileSync(`${dir}/not-exec`, '#!/bin/sh\n');
    chmodSync(`${dir}/not-exec`, 0o644);
    expect((await startError({ argv: [`${dir}/not-exec`] })).code).toBe('EACCES');
    expect(() => spawner.spawn({ argv: ['echo', 'a\0b'], env: ENV, cwd: '/', stdin: false })).toThrow(/NUL/);
  });

  it('kills the programs it runs when the agent goes (closes its stdin), instead of leaving them without an owner', async () => {
    const own = Spawner.start(binary);
    const child = own.spawn({ argv: ['sleep', '30'], env: ENV, cwd: '/', stdin: false });
    await new Promise<void>((resolve, reject) => child.once('spawn', resolve).once('error', reject));
    const pid = child.pid as number;
    expect(isRunning(pid)).toBe(true);
    await own.close();
    for (let i = 0; i < 100 && isRunning(pid); i++) await new Promise((r) => setTimeout(r, 20));
    expect(isRunning(pid)).toBe(false);
  });

  it("signals the program's whole process group: a kill also ends what it started, which holds its outputs", async () => {
    const killed = await runOne({ argv: ['sh', '-c', 'sleep 31.1; true'] }, undefined, (c) => void setTimeout(() => c.kill('SIGKILL'), 200));
    expect(killed.signal).toBe('SIGKILL');
    for (let i = 0; i < 100 && processesRunning(['sleep', '31.1']).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(processesRunning(['sleep', '31.1'])).toEqual([]);
  });

  it('serves many programs at once, beyond its pool of stdin pipes', async () => {
    const runs = await Promise.all(Array.from({ length: 12 }, (_, i) => runOne({ argv: ['sh', '-c', `echo out${i}; echo err${i} >&2; exit ${i}`] })));
    runs.forEach((r, i) => expect(r).toMatchObject({ code: i, stdout: `out${i}\n`, stderr: `err${i}\n` }));
  });

  it('gives the program real pipes: it can reopen /dev/stdout and /dev/stderr, and test -p says so', async () => {
    const r = await runOne({ argv: ['sh', '-c', 'echo hi > /dev/stdout; echo oops > /dev/stderr; [ -p /dev/stdout ] && [ -p /dev/stderr ] && echo pipes'] });
    expect(r).toMatchObject({ code: 0, stdout: 'hi\npipes\n', stderr: 'oops\n' });
    const tee = await runOne({ argv: ['sh', '-c', 'echo both | tee /dev/stderr'] });
    expect(tee).toMatchObject({ code: 0, stdout: 'both\n', stderr: 'both\n' });
    // Reopened after the agent has closed its end: a named pipe's open would block here, an anonymous pipe's does not.
    const input = await runOne({ argv: ['sh', '-c', 'sleep 0.2; [ -p /dev/stdin ] && cat /dev/stdin'] }, Buffer.from('in\n'));
    expect(input).toMatchObject({ code: 0, stdout: 'in\n' });
  });

  it('keeps output a program wrote before it exited, and ends it only when its descendants close it too', async () => {
    const child = spawner.spawn({ argv: ['sh', '-c', 'head -c 40000 /dev/zero; (sleep 0.3; echo late) &'], env: ENV, cwd: '/', stdin: false });
    const exit = new Promise((resolve) => child.once('exit', resolve));
    await exit;
    await new Promise((r) => setTimeout(r, 50)); // read only after the program is gone
    const [out] = await Promise.all([collect(child.stdout), collect(child.stderr)]);
    expect(out.length).toBe(40_005);
    expect(out.subarray(40_000).toString()).toBe('late\n');
  });

  it('holds no write end and no stdin once the program runs, and nothing of it once reaped: end-of-file comes as with Node spawn', async () => {
    const child = spawner.spawn({ argv: ['sleep', '30'], env: ENV, cwd: '/', stdin: true });
    await new Promise((resolve) => child.once('spawn', resolve));
    const spawnerPid = spawner.pid as number;
    const held = (): { pipe: string; write: boolean }[] =>
      readdirSync(`/proc/${spawnerPid}/fd`).flatMap((fd) => {
        const pipe = readlinkSync(`/proc/${spawnerPid}/fd/${fd}`);
        const flags = Number.parseInt(/flags:\s+(\d+)/.exec(readFileSync(`/proc/${spawnerPid}/fdinfo/${fd}`, 'utf8'))?.[1] ?? '0', 8);
        return pipe.startsWith('pipe:') ? [{ pipe, write: (flags & 3) !== 0 }] : [];
      });
    const [stdin, stdout, stderr] = [0, 1, 2].map((fd) => readlinkSync(`/proc/${child.pid}/fd/${fd}`));
    expect([stdin, stdout, stderr].every((l) => l?.startsWith('pipe:'))).toBe(true);
    const mine = held().filter((h) => [stdin, stdout, stderr].includes(h.pipe));
    // Only read ends of stdout and stderr, kept to tell at exit whether they are drained: a reader holds no pipe open.
    expect(mine.map((h) => h.pipe).sort()).toEqual([stdout, stderr].sort());
    expect(mine.some((h) => h.write)).toBe(false);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(held().filter((h) => [stdin, stdout, stderr].includes(h.pipe))).toEqual([]);
  });

  it('sends the exit after the output a program left, and ends an output a descendant holds only when it closes', async () => {
    const order = (c: SpawnedChild): string[] => {
      const seen: string[] = [];
      const [exited, ended] = [c.markExited.bind(c), c.onOutputEnd.bind(c)];
      c.markExited = (code, signo) => (seen.push('exit'), exited(code, signo));
      c.onOutputEnd = (ch) => (seen.push(`end ${ch}`), ended(ch));
      return seen;
    };
    const quiet = spawner.spawn({ argv: ['sh', '-c', 'echo a; echo b >&2'], env: ENV, cwd: '/', stdin: false });
    const quietSeen = order(quiet);
    const outputs = Promise.all([collect(quiet.stdout), collect(quiet.stderr)]);
    await new Promise((resolve) => quiet.once('exit', resolve));
    expect([...quietSeen.slice(0, 2).sort(), quietSeen[2]]).toEqual(['end 1', 'end 2', 'exit']);
    expect((await outputs).map(String)).toEqual(['a\n', 'b\n']);
    const held = spawner.spawn({ argv: ['sh', '-c', 'exec >/dev/null; (sleep 0.3; echo late >&2) &'], env: ENV, cwd: '/', stdin: false });
    const heldSeen = order(held);
    const heldOutputs = Promise.all([collect(held.stdout), collect(held.stderr)]);
    await new Promise((resolve) => held.once('exit', resolve));
    expect(heldSeen).toEqual(['end 1', 'exit']);
    expect((await heldOutputs).map(String)).toEqual(['', 'late\n']);
    expect(heldSeen).toEqual(['end 1', 'exit', 'end 2']);
  });

  it('stops reading an output its reader does not take, so the program waits, and goes on when it is taken', async () => {
    const child = spawner.spawn({ argv: ['head', '-c', '16000000', '/dev/zero'], env: ENV, cwd: '/', stdin: false });
    let exited = false;
    child.once('exit', () => (exited = true));
    await new Promise((resolve) => child.once('spawn', resolve));
    await new Promise((r) => setTimeout(r, 300));
    expect(exited).toBe(false); // 16 MB do not fit in our stream, lodge-spawn and the pipes (1 MiB each)
    expect(child.stdout.readableLength).toBeLessThan(5_000_000); // what came before lodge-spawn read the pause
    expect((await collect(child.stdout)).length).toBe(16_000_000);
  });

  it("emits 'exit' after the turn of 'spawn' even when both come in one read, so an awaiter of 'spawn' hears it", async () => {
    for (let i = 0; i < 10; i++) {
      const child = spawner.spawn({ argv: ['true'], env: ENV, cwd: '/', stdin: false });
      await new Promise((resolve) => child.once('spawn', resolve));
      const exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
      const late = new Promise((resolve) => setTimeout(() => resolve('no exit event'), 2000));
      expect(await Promise.race([exit, late])).toBe(0);
    }
  });

  it('closes every pipe of a finished program, in the agent and in lodge-spawn', async () => {
    const count = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
    await runOne({ argv: ['true'] });
    await new Promise((r) => setTimeout(r, 50)); // the pool made again
    const [agent, server] = [count(process.pid), count(spawner.pid as number)];
    for (let i = 0; i < 10; i++) await runOne({ argv: ['sh', '-c', 'cat; echo y >&2'] }, i % 2 ? Buffer.from('in') : undefined);
    await new Promise((r) => setTimeout(r, 50));
    expect([count(process.pid), count(spawner.pid as number)]).toEqual([agent, server]);
  });

  it('streams stdin to the program and ends it', async () => {
    const input = Buffer.alloc(3_000_000, 'x');
    const r = await runOne({ argv: ['wc', '-c'] }, input);
    expect(r.stdout.trim()).toBe('3000000');
  });

  it('carries large output whole', async () => {
    const r = await runOne({ argv: ['sh', '-c', 'head -c 50000000 /dev/zero | tr "\\0" a'] });
    expect(r.stdout.length).toBe(50_000_000);
  });

  it.runIf(process.getuid?.() === 0)('sets uid, gid and the supplementary groups', async () => {
    const r = await runOne({ argv: ['sh', '-c', 'id -u; id -g; id -G'], user: { uid: 65534, gid: 65534, groups: [65534, 100, 4242] } });
    expect(r.stdout).toBe('65534\n65534\n65534 100 4242\n');
  });

  it('gives the program the fd limit lodge-spawn was given (it raises its own)', async () => {
    writeFileSync(`${dir}/limited`, `#!/bin/sh\nulimit -Sn 512\nexec ${binary}\n`); // exec: the pid stays lodge-spawn's
    chmodSync(`${dir}/limited`, 0o755);
    const limited = Spawner.start(`${dir}/limited`);
    try {
      const child = limited.spawn({ argv: ['sh', '-c', 'ulimit -n'], env: ENV, cwd: '/', stdin: false });
      const out = collect(await new Promise<Readable | null>((resolve, reject) => child.once('spawn', () => resolve(child.stdout)).once('error', reject)));
      expect((await out).toString().trim()).toBe('512');
      expect(readFileSync(`/proc/${limited.pid}/limits`, 'utf8')).not.toMatch(/Max open files\s+512\s/);
    } finally {
      await limited.close();
    }
  });

  it('gives the program no ignored or blocked signal, even those lodge-spawn was given ignored', async () => {
    writeFileSync(`${dir}/ignoring`, `#!/bin/sh\ntrap '' USR1 TERM\nexec ${binary}\n`); // ignored stays ignored across exec
    chmodSync(`${dir}/ignoring`, 0o755);
    const ignoring = Spawner.start(`${dir}/ignoring`);
    try {
      const child = ignoring.spawn({ argv: ['grep', '-E', '^Sig(Ign|Blk)', '/proc/self/status'], env: ENV, cwd: '/', stdin: false });
      const out = collect(await new Promise<Readable | null>((resolve, reject) => child.once('spawn', () => resolve(child.stdout)).once('error', reject)));
      expect((await out).toString()).toBe('SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n');
      expect(readFileSync(`/proc/${ignoring.pid}/status`, 'utf8')).toMatch(/Name:\s+lodge-spawn[^]*SigIgn:\s+0*[1-9a-f]/); // it had some
    } finally {
      await ignoring.close();
    }
  });

  it('finds the groups that list a user, as initgroups does', () => {
    writeFileSync(`${dir}/group`, 'root:x:0:\nusers:x:100:alice,bob\nstaff:x:50:bob\ndocker:x:999:alice\n');
    expect(supplementaryGroups({ name: 'alice', uid: 1000, gid: 1000, home: '/', shell: '/bin/sh' }, { group: `${dir}/group` })).toEqual([1000, 100, 999]);
  });

  it('fails a running program when lodge-spawn dies, kills it, and restarts at the next exec', async () => {
    const child = spawner.spawn({ argv: ['sleep', '30'], env: ENV, cwd: '/', stdin: false });
    await new Promise((resolve) => child.once('spawn', resolve));
    const lost = new Promise<Error>((resolve) => child.once('error', resolve));
    const pid = child.pid as number;
    expect(isRunning(pid)).toBe(true);
    process.kill(spawner.pid as number, 'SIGKILL');
    expect((await lost).message).toMatch(/lodge-spawn was killed by SIGKILL.*exit status is lost/);
    await new Promise((r) => setTimeout(r, 100));
    expect(isRunning(pid)).toBe(false);
    expect(spawner.usable()).toBe(true);
    expect((await runOne({ argv: ['echo', 'again'] })).stdout).toBe('again\n');
  });

  it('falls back to Node spawn when its stdin pipes cannot be opened through /proc', async () => {
    // A wrapper that does not exec: the pid the agent knows is not the one holding the pipes.
    writeFileSync(`${dir}/wrapped`, `#!/bin/sh\n${binary}\n`);
    chmodSync(`${dir}/wrapped`, 0o755);
    const wrapped = Spawner.start(`${dir}/wrapped`);
    try {
      const child = wrapped.spawn({ argv: ['cat'], env: ENV, cwd: '/', stdin: true });
      expect((await new Promise<Error>((resolve) => child.once('error', resolve))).message).toMatch(/exec's pipes: .*ENOENT/);
      expect(wrapped.usable()).toBe(false);
    } finally {
      await wrapped.close();
    }
  });

  it('gives up after repeated deaths so exec falls back to Node spawn', async () => {
    const broken = Spawner.start('/bin/false');
    try {
      for (let i = 0; i < 3; i++) {
        const child = broken.spawn({ argv: ['true'], env: ENV, cwd: '/', stdin: false });
        await new Promise((resolve) => child.once('error', resolve));
      }
      expect(broken.usable()).toBe(false);
    } finally {
      await broken.close();
    }
  });
});

describe('lodge-spawn --bench and --bench-idle (bench/agent\'s floors)', () => {
  it('time a program\'s fork+exec+wait, back to back or each after sleeping, and refuse bad counts', () => {
    const run = (...args: string[]): { status: number | null; out: string; ms: number } => {
      const t0 = performance.now();
      const r = spawnSync(binary, args, { encoding: 'utf8' });
      return { status: r.status, out: r.stdout, ms: performance.now() - t0 };
    };
    const warm = run('--bench', '5', '/bin/true');
    expect(warm.status).toBe(0);
    expect(JSON.parse(warm.out)).toEqual({ p50: expect.any(Number), p99: expect.any(Number) });
    const idle = run('--bench-idle', '50', '5', '/bin/true');
    expect(idle.status).toBe(0);
    expect((JSON.parse(idle.out) as { p50: number }).p50).toBeGreaterThan(0);
    expect(idle.ms).toBeGreaterThanOrEqual(6 * 50); // it slept before each of the 5 runs and the warm-up
    expect(run('--bench-idle', '-1', '5', '/bin/true').status).toBe(2);
    expect(run('--bench', '0', '/bin/true').status).toBe(2);
  });
});
