import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DAEMON_NODE_FLAGS, type HostReport, type ImageEntry } from '@lodge/api';
import { BOOT_MARKER, CLI, REPO, sleep, TestLodge } from './harness.js';

describe('the CLI and the daemon around it', () => {
  const lodge = new TestLodge();
  afterAll(() => lodge.cleanup());

  it('starts lodged on demand and serves a 0600 unix socket', async () => {
    const r = await lodge.cli(['list', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
    const sock = statSync(join(lodge.home, 'lodged.sock'));
    expect(sock.isSocket()).toBe(true);
    expect(sock.mode & 0o777).toBe(0o600);
    expect((await lodge.client.ping()).ok).toBe(true);
    // Started with lodged's heap flags: without them a bulk copy spends most of lodged's CPU in full GCs.
    const pid = readFileSync(join(lodge.home, 'lodged.pid'), 'utf8').trim();
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    expect(argv).toEqual(expect.arrayContaining([...DAEMON_NODE_FLAGS]));
  });

  it('starts without loading extra CA certificates, which it never uses (Node would spend ~40 ms per command on them)', async () => {
    // Node reads the file before any code runs and warns when it cannot: no warning means it was never read.
    const r = await lodge.cli(['--version'], { env: { NODE_EXTRA_CA_CERTS: join(lodge.home, 'no-such-ca.pem') } });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('lodge daemon runs lodged in the foreground until Ctrl-C', async () => {
    const home = new TestLodge(); // a data folder of its own: nothing else starts a daemon there
    const child = spawn(CLI, ['daemon'], { env: home.env, stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      let up = false;
      for (let i = 0; i < 200 && !up; i++) {
        up = await home.client.ping().then(() => true, () => false);
        if (!up) await sleep(50);
      }
      expect(up).toBe(true);
      child.kill('SIGINT'); // forwarded to lodged, whose exit status the command returns
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await home.cleanup();
    }
  });

  it('lodge host --json reports the accelerator, probed for real, and capacity', async () => {
    const host = await lodge.cliJson<HostReport>(['host']);
    // /dev/kvm exists on this machine but cannot run guests: the probe must say TCG and why.
    expect(host.accelerator).toBe('tcg');
    expect(host.acceleratorNote).toMatch(/KVM/);
    expect(host.cpus.count).toBeGreaterThan(0);
    expect(host.memory.totalBytes).toBeGreaterThan(host.memory.availableBytes / 2);
    expect(host.qemu.version).toMatch(/^\d+\.\d+/);
    expect(['v1', 'v2', 'none']).toContain(host.cgroup.version);
    expect(host.capacity.vms).toEqual({ total: 0, active: 0 });
    const human = await lodge.cli(['host']);
    expect(human.stdout).toMatch(/tcg/i);
  });

  it('lists the micro image, and a second build is a cache hit', async () => {
    const images = await lodge.cliJson<ImageEntry[]>(['image', 'list']);
    const micro = images.find((i) => i.name === 'micro');
    expect(micro?.kernelVersion).toMatch(/cloud-amd64$/);
    const r = await lodge.cli(['image', 'build', 'micro']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/cache hit/);
    const unknown = await lodge.cli(['image', 'build', 'nonesuch']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/micro/); // names the recipes that exist
  });

  it('logs -f follows the console as the guest writes to it', async () => {
    await lodge.bootVm('follow');
    const child = spawn(CLI, ['logs', '-f', 'follow'], { env: lodge.env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await lodge.cli(['console', 'follow'], { input: 'echo followed-$((1+1))\n' });
      for (let i = 0; i < 100 && !out.includes('followed-2'); i++) await sleep(50);
      expect(out).toContain(BOOT_MARKER);
      expect(out).toContain('followed-2');
    } finally {
      child.kill('SIGINT');
    }
    await lodge.client.delete('follow', { force: true });
  });

  it('the console on a real terminal: keys reach the guest shell, Ctrl-] detaches and the VM keeps running', async () => {
    await lodge.bootVm('tty');
    // `script` gives the CLI a pseudo-terminal, so it runs in raw mode as for a person at a keyboard.
    const cmd = `${process.execPath} ${CLI} console tty`;
    const child = spawn('script', ['-qefc', cmd, '/dev/null'], { env: lodge.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    try {
      for (let i = 0; i < 100 && !out.includes('tty-ok-42'); i++) {
        if (i % 20 === 0) child.stdin.write('echo tty-ok-$((6*7))\r'); // retyped: the shell may not read ttyS0 yet
        await sleep(100);
      }
      expect(out).toContain('tty-ok-42');
      child.stdin.write('\x1d');
      expect(await exited).toBe(0);
      expect(out).toMatch(/Detached/);
      expect((await lodge.client.get('tty')).state).toBe('running');
    } finally {
      child.kill('SIGKILL');
    }
    await lodge.client.delete('tty', { force: true });
  });

  it('a second console client is refused while one is attached', async () => {
    await lodge.bootVm('solo');
    const first = await lodge.client.console('solo', () => undefined);
    try {
      const second = await lodge.cli(['console', 'solo'], { input: 'echo x\n' });
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(/already attached/);
    } finally {
      first.close();
    }
    await lodge.client.delete('solo', { force: true });
  });
});

describe('one daemon per data folder', () => {
  it('two lodged started at once: one serves, the other says so and exits', async () => {
    const lodge = new TestLodge();
    try {
      const daemon = join(REPO, 'packages/daemon/dist/main.js');
      const runs = [0, 1].map(() => {
        const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, daemon], { env: lodge.env, stdio: ['ignore', 'pipe', 'pipe'] });
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        return { child, exited: new Promise<{ code: number | null; err: string }>((r) => child.on('exit', (code) => r({ code, err }))) };
      });
      const first = await Promise.race(runs.map((r) => r.exited));
      expect(first.code).toBe(1);
      expect(first.err).toMatch(/already (running|serving)/);
      let up = false; // the winner may still be starting when the loser gives up
      for (let i = 0; i < 200 && !up; i++) up = await lodge.client.ping().then(() => true, async () => (await sleep(50), false));
      expect(up).toBe(true);
      for (const r of runs) r.child.kill('SIGTERM');
      await Promise.all(runs.map((r) => r.exited));
    } finally {
      await lodge.cleanup();
    }
  });
});

describe('images under VMs', () => {
  it('a forced rebuild is refused while a VM made before VMs pinned their image files depends on them, naming it', async () => {
    const lodge = new TestLodge();
    try {
      await lodge.startDaemon();
      expect((await lodge.cli(['create', 'based', '--memory', '128M'])).code).toBe(0);
      expect(existsSync(join(lodge.home, 'vms/based/image/image.json'))).toBe(true); // made now: it has its own links
      rmSync(join(lodge.home, 'vms/based/image'), { recursive: true }); // as an older Lodge made it (never booted here)
      const r = await lodge.cli(['image', 'build', '--force', 'micro']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/image "micro" needs rebuilding \(a forced rebuild\), but it is the base of VM\(s\) based/);
    } finally {
      await lodge.cleanup();
    }
  });
});
