import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, execThroughAgent, sleep, TestLodge } from './harness.js';


/** Runs the CLI with binary stdin and counts/hashes stdout without keeping it. */
function cliStream(lodge: TestLodge, args: string[], input?: Buffer): Promise<{ code: number | null; bytes: number; sha: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(CLI, args, { env: lodge.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const hash = createHash('sha256');
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => ((bytes += d.length), hash.update(d)));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, bytes, sha: hash.digest('hex'), stderr }));
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

describe('exec and shell through the Lodge agent', () => {
  const lodge = new TestLodge();
  beforeAll(async () => {
    await lodge.startDaemon();
    await lodge.bootVm('ex', ['--memory', '384M']);
  });
  afterAll(() => lodge.cleanup());

  it('start waits for the agent: the VM is ready and lodge info shows the guest', async () => {
    const info = await lodge.client.get('ex');
    expect(info.guest?.state).toBe('ready');
    expect(info.guest?.via).toBe('lodge-agent');
    const status = await lodge.client.guest('ex');
    expect(status.info?.kernel.release).toMatch(/cloud-amd64/);
    expect(status.info?.memory.totalBytes).toBeGreaterThan(200 * 2 ** 20);
    expect(status.info?.agent.version).toMatch(/^\d+\.\d+/);
    // The guest is named after its VM (lodge.hostname= on the kernel's command line), as Multipass names its guests.
    expect(status.info?.hostname).toBe('ex');
    expect((await lodge.cli(['exec', 'ex', '--sh', 'hostname; cat /etc/hostname; grep ^127.0.1.1 /etc/hosts'])).stdout).toBe('ex\nex\n127.0.1.1 ex\n');
    const human = await lodge.cli(['info', 'ex']);
    expect(human.stdout).toMatch(/lodge-agent/);
    expect(human.stdout).toMatch(/cloud-amd64/);
  });

  it('this host has no vhost-vsock: the VM gets no vsock device and the agent talks over the virtio-serial port', async () => {
    const host = await lodge.client.host();
    expect(host.vsock).toEqual({ available: false, note: expect.stringContaining('/dev/vhost-vsock') });
    expect((await lodge.cli(['host'])).stdout).toMatch(/^vsock: +no \(/m);
    const info = await lodge.client.get('ex');
    expect(info.vsockCid).toBeUndefined();
    expect(info.guest?.transport).toBe('virtio-serial');
    expect((await lodge.cli(['info', 'ex'])).stdout).not.toMatch(/^vsock:/m);
    const cmdline = JSON.parse(readFileSync(join(lodge.home, 'vms', 'ex', 'qemu.cmdline'), 'utf8')) as string[];
    expect(cmdline.filter((a) => a.startsWith('vhost-vsock'))).toEqual([]); // (the worktree's own path may say vsock)
    // The agent saw no virtio vsock device, so it started no socat (which the image has).
    expect((await lodge.cli(['exec', 'ex', '--', 'socat', '-V'])).code).toBe(0);
    expect((await lodge.cli(['exec', 'ex', '--sh', 'pidof socat || echo none'])).stdout).toBe('none\n');
  });

  it('exit codes are exact: 0, 1, 137 for a SIGKILL, 127 and 126 for a program that cannot start', async () => {
    expect((await lodge.cli(['exec', 'ex', '--', 'true'])).code).toBe(0);
    expect((await lodge.cli(['exec', 'ex', '--', 'false'])).code).toBe(1);
    expect((await lodge.cli(['exec', 'ex', '--', 'sh', '-c', 'exit 42'])).code).toBe(42);
    expect((await lodge.cli(['exec', 'ex', '--', 'sh', '-c', 'kill -9 $$'])).code).toBe(137);
    // A program that cannot start: 127 not found, 126 not runnable, as sh and ssh exit; lodge's own failures stay 1.
    const missing = await lodge.cli(['exec', 'ex', '--', 'no-such-program']);
    expect([missing.code, missing.stderr]).toEqual([127, 'lodge: no-such-program: not found in the guest (PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)\n']);
    const denied = await lodge.cli(['exec', 'ex', '--', '/etc/passwd']);
    expect([denied.code, denied.stderr]).toEqual([126, 'lodge: /etc/passwd: permission denied in the guest\n']);
    expect((await lodge.cli(['exec', 'ex', '--tty', '--', 'no-such-program'])).code).toBe(127);
    expect((await lodge.cli(['exec', 'ex', '--cwd', '/no/such', '--', 'true'])).code).toBe(1);
    expect((await lodge.cli(['exec', 'ex', '--user', 'no-such-user', '--', 'true'])).code).toBe(1);
    await expect(lodge.client.exec('ex', { argv: ['no-such-program'] }, { stdout: () => undefined, stderr: () => undefined }).then((s) => s.result)).rejects.toMatchObject({ code: 'not_found', details: { shellStatus: 127 } });
  });

  it('plain programs, as root or as a user, start from lodge-port (no JS on the way), the agent\'s through lodge-spawn, both compiled into the image', async () => {
    const plain = await lodge.cli(['exec', 'ex', '--', 'sh', '-c', 'cat /proc/$PPID/comm']);
    expect(plain.stdout).toBe('lodge-port\n');
    const piped = await lodge.cli(['exec', 'ex', '-i', '--', 'sh', '-c', 'cat /proc/$PPID/comm; cat'], { input: Buffer.from('in\n') });
    expect(piped.stdout).toBe('lodge-port\nin\n');
    // lodge-port switches to the user as the agent would: a uid without a passwd row is itself, with home /.
    const asUser = await lodge.cli(['exec', 'ex', '--user', '1000:5', '--', 'sh', '-c', 'cat /proc/$PPID/comm; id -u; id -g; echo "$HOME $USER"; pwd']);
    expect(asUser.stdout).toBe('lodge-port\n1000\n5\n/ 1000\n/\n');
    expect(await execThroughAgent(lodge.client, 'ex', 'cat /proc/$PPID/comm; echo $V299')).toBe('lodge-spawn\n299\n');
  });

  it('the agent reads and writes its port through lodge-port, its child holding the device', async () => {
    const script = 'p=$(pidof lodge-port); cat /proc/$(cut -d" " -f4 /proc/$p/stat)/comm; ls -l /proc/$p/fd | grep -c vport';
    const r = await lodge.cli(['exec', 'ex', '--', 'sh', '-c', script]);
    expect(r.stdout).toBe('node\n1\n');
  });

  it('programs get real pipes: they can reopen /dev/stdout, /dev/stderr and /dev/stdin', async () => {
    const r = await lodge.cli(['exec', 'ex', '--', 'sh', '-c', 'echo hi > /dev/stdout; echo oops > /dev/stderr; [ -p /dev/stdout ] && echo pipe; echo both | tee /dev/stderr']);
    expect(r.code, r.stderr).toBe(0);
    expect([r.stdout, r.stderr]).toEqual(['hi\npipe\nboth\n', 'oops\nboth\n']);
    const input = await lodge.cli(['exec', 'ex', '-i', '--', 'sh', '-c', 'sleep 0.5; cat /dev/stdin'], { input: Buffer.from('in\n') });
    expect([input.code, input.stdout]).toEqual([0, 'in\n']);
  });

  it('stdout and stderr stay separate; argv is not passed through a shell', async () => {
    const r = await lodge.cli(['exec', 'ex', '--', 'sh', '-c', 'echo to-out; echo to-err >&2; echo "$1"', 'sh', '$HOME; ls']);
    expect(r.stdout).toBe('to-out\n$HOME; ls\n');
    expect(r.stderr).toBe('to-err\n');
    const env = await lodge.cli(['exec', 'ex', '--env', 'GREETING=hi there', '--cwd', '/etc', '--', 'sh', '-c', 'echo "$GREETING" $(pwd)']);
    expect(env.stdout).toBe('hi there /etc\n');
  });

  it('100 MB through stdout arrives whole', async () => {
    const r = await cliStream(lodge, ['exec', 'ex', '--', 'head', '-c', '100000000', '/dev/zero']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.bytes).toBe(100_000_000);
    expect(r.sha).toBe(createHash('sha256').update(Buffer.alloc(100_000_000)).digest('hex'));
  });

  it('output still queued for a slow pipe when the guest process ends arrives whole before lodge exits', async () => {
    // The reader starts late: the pipe fills, the rest (and the last 3 bytes, written half a second later) queue in
    // the CLI. Before the CLI waited for its stdout, process.exit dropped that queue in about half of the runs.
    const line = `'${process.execPath}' '${CLI}' exec ex -- sh -c 'head -c 70000 /dev/zero; sleep 0.5; printf END' | (sleep 2; wc -c)`;
    const counts = await Promise.all(Array.from({ length: 5 }, () => new Promise<string>((resolve) => {
      let out = '';
      const child = spawn('bash', ['-c', line], { env: lodge.env, stdio: ['ignore', 'pipe', 'inherit'] });
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', () => resolve(out.trim()));
    })));
    expect(counts).toEqual(Array(5).fill('70003'));
  });

  it('stdin is streamed to the guest process', async () => {
    const input = randomBytes(8 * 2 ** 20);
    const r = await lodge.cli(['exec', 'ex', '-i', '--', 'sha256sum'], { input });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split(' ')[0]).toBe(createHash('sha256').update(input).digest('hex'));
  });

  it('a timeout kills the guest process and says so', async () => {
    const started = Date.now();
    const r = await lodge.cli(['exec', 'ex', '--timeout', '1', '--', 'sleep', '30']);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/timed out/i);
    expect((await lodge.cli(['exec', 'ex', '--', 'sh', '-c', 'pidof sleep || echo none'])).stdout).toBe('none\n');
    // It kills the program's process group, as timeout(1) does: a shell's child holds the outputs open too, and
    // the exec ended only when it did (30 s). Through lodge-port, then through the agent (lodge-spawn: 300 vars).
    const shell = await lodge.cli(['exec', 'ex', '--timeout', '1', '--', 'sh', '-c', 'sleep 30; true']);
    expect([shell.code, shell.stderr]).toEqual([124, 'lodge: sh in ex timed out after 1 s\n']);
    const env = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`V${i}`, String(i)]));
    const viaAgent = await lodge.client.exec('ex', { argv: ['sh', '-c', 'sleep 30; true'], env, timeoutMs: 1000 }, { stdout: () => undefined, stderr: () => undefined });
    expect(await viaAgent.result).toMatchObject({ exitCode: null, signal: 'SIGKILL', timedOut: true });
    expect(Date.now() - started).toBeLessThan(20_000);
    expect((await lodge.cli(['exec', 'ex', '--', 'sh', '-c', 'pidof sleep || echo none'])).stdout).toBe('none\n');
  });

  it('Ctrl-C (SIGINT to lodge exec) reaches the guest process', async () => {
    const child = spawn(CLI, ['exec', 'ex', '--', 'sh', '-c', 'trap "echo got-int; exit 7" INT; echo ready; while :; do sleep 0.1; done'], {
      env: lodge.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = new Promise<number | null>((r) => child.on('close', r));
    try {
      for (let i = 0; i < 200 && !out.includes('ready'); i++) await sleep(50);
      expect(out).toContain('ready');
      child.kill('SIGINT');
      expect(await code).toBe(7);
      expect(out).toContain('got-int');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a terminal session follows resizes (client library)', async () => {
    let out = '';
    const session = await lodge.client.exec(
      'ex',
      { argv: ['sh', '-c', 'stty size; read x; stty size'], tty: { rows: 10, cols: 40 }, stdin: true },
      { stdout: (c) => void (out += c.toString()), stderr: (c) => void (out += c.toString()) },
    );
    for (let i = 0; i < 200 && !out.includes('10 40'); i++) await sleep(50);
    session.resize(50, 120);
    await sleep(300);
    await session.writeStdin(Buffer.from('go\r'));
    const result = await session.result;
    expect(result.exitCode).toBe(0);
    expect(out).toMatch(/10 40[\s\S]*50 120/);
  });

  it('lodge shell with stdin not a terminal runs none, as ssh: the shell reads the pipe as a script (no prompt, no echo)', async () => {
    const piped = await lodge.cli(['shell', 'ex'], { input: 'echo hi-$((40+2))\nhostname\nexit 5\n' });
    expect([piped.code, piped.stdout, piped.stderr]).toEqual([5, 'hi-42\nex\n', '']);
    const forced = await lodge.cli(['shell', 'ex', '-t', '--', 'sh', '-c', 'test -t 0 && echo on-a-terminal']);
    expect([forced.code, forced.stdout.trim()]).toEqual([0, 'on-a-terminal']);
  });

  it('lodge shell: an interactive PTY with the terminal size, resize, and exit status', async () => {
    // `script` gives the CLI a real pseudo-terminal, as for a person at a keyboard.
    const cmd = `stty rows 31 cols 97; ${process.execPath} ${CLI} shell ex`;
    const child = spawn('script', ['-qefc', cmd, '/dev/null'], { env: lodge.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    const waitFor = async (text: string): Promise<void> => {
      for (let i = 0; i < 300 && !out.includes(text); i++) await sleep(50);
      expect(out).toContain(text);
    };
    try {
      child.stdin.write('stty size; echo tty-$((6*7)); tty\r');
      await waitFor('tty-42');
      await waitFor('/dev/pts/');
      expect(out).toMatch(/31 97/);
      child.stdin.write('sleep 30\r');
      await sleep(500);
      child.stdin.write('\x03'); // Ctrl-C interrupts the guest's foreground job, not the session
      child.stdin.write('echo after-int-$((1+1))\r');
      await waitFor('after-int-2');
      child.stdin.write('exit 3\r');
      expect(await exited).toBe(3);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
