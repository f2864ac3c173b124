// The vsock path end to end except AF_VSOCK itself (this host has no vhost-vsock): the real bundled agent serves its
// port and, through its own socat, a unix socket in place of VSOCK-LISTEN; the daemon's channel bridges to it with
// socat in place of VSOCK-CONNECT. A relay stands in for QEMU's agent.sock chardev.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GuestChannel } from '../ports/guest-channel.js';
import { createAgentChannel } from './agent-channel.js';
import { dialSocat } from './vsock-bridge.js';

const timing = { minBackoffMs: 20, maxBackoffMs: 200, pingIntervalMs: 300, maxMissedPings: 3, helloIntervalMs: 100 };
const logger = pino({ level: 'silent' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const agentBundle = createRequire(import.meta.url).resolve('@lodge/agent/lodge-agent.mjs');

async function until(cond: () => boolean, what: string, ms = 8000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await sleep(10)) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

/** Pids of processes whose command line contains `needle` (a path in this test's own temp folder). */
function pidsWith(needle: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', needle], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number).filter((p) => p !== process.pid);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/** QEMU's agent.sock stand-in: the daemon's connection and the agent's are joined byte for byte. */
async function relay(hostPath: string, guestPath: string): Promise<() => Promise<void>> {
  let host: Socket | undefined;
  let guest: Socket | undefined;
  const join2 = (): void => {
    if (!host || !guest) return;
    host.pipe(guest).on('error', () => undefined);
    guest.pipe(host).on('error', () => undefined);
  };
  const serve = (path: string, set: (s: Socket | undefined) => void): Server => createServer((s) => {
    set(s);
    s.on('error', () => undefined);
    s.on('close', () => set(undefined));
    join2();
  }).listen(path);
  const servers = [serve(hostPath, (s) => (host = s)), serve(guestPath, (s) => (guest = s))];
  return async () => {
    host?.destroy();
    guest?.destroy();
    await Promise.all(servers.map((srv) => new Promise((r) => srv.close(r))));
  };
}

describe('agent channel with vsock (socat to a unix socket standing in for AF_VSOCK)', { timeout: 30_000 }, () => {
  let dir: string;
  let agent: ChildProcess | undefined;
  let channel: GuestChannel | undefined;
  let stopRelay: () => Promise<void>;
  const vsockSock = (): string => join(dir, 'v.sock');

  const startAgent = (): void => {
    agent = spawn(process.execPath, [agentBundle, '--port', join(dir, 'guest.sock'), '--vsock-listen', `UNIX-LISTEN:${vsockSock()},unlink-early`, '--no-bus', '--pty-dir', join(dir, 'pty')], { stdio: 'ignore' });
  };
  const open = (vsockAddress = `UNIX-CONNECT:${vsockSock()}`): GuestChannel =>
    (channel = createAgentChannel({ socketPath: join(dir, 'agent.sock'), vsockCid: 42, vsockAddress, logger, timing }));
  const echo = async (ch: GuestChannel, text: string): Promise<string> => {
    let out = '';
    const run = ch.exec({ argv: ['echo', text] }, { output: (_c, chunk, done) => ((out += chunk.toString()), done()) });
    expect(await run.result).toMatchObject({ exitCode: 0 });
    return out;
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lodge-vsock-'));
    stopRelay = await relay(join(dir, 'agent.sock'), join(dir, 'guest.sock'));
  });
  afterEach(async () => {
    channel?.close();
    agent?.kill('SIGKILL');
    await stopRelay();
    // The killed agent's own socat may still wait in accept() (a next agent would kill it): end it here, by pid.
    for (const pid of pidsWith(`65536 UNIX-LISTEN:${vsockSock()}`)) process.kill(pid, 'SIGKILL');
    await until(() => pidsWith(dir).length === 0, 'every socat of the test to end');
    await rm(dir, { recursive: true, force: true });
  });

  it('prefers vsock and carries a real agent session over the bridge', async () => {
    startAgent();
    const ch = open();
    await ch.whenReady(8000);
    await until(() => ch.transport === 'vsock', 'the vsock link');
    expect(await echo(ch, 'over the bridge')).toBe('over the bridge\n');
    expect((await ch.info()).agent.version).toBe(ch.version);
    // One socat on each side of the bridge, no more.
    expect(pidsWith(`STDIO UNIX-CONNECT:${vsockSock()}`)).toHaveLength(1);
  });

  it('falls back to the port while vsock is down, reconnects, and leaves no socat behind when closed', async () => {
    startAgent();
    const ch = open();
    await until(() => ch.transport === 'vsock', 'the vsock link');
    const states: string[] = [];
    ch.onState((s) => states.push(s));
    // The agent's socat on the vsock side dies (its command line, not the agent's --vsock-listen): the daemon's bridge sees its socat exit.
    for (const pid of pidsWith(`65536 UNIX-LISTEN:${vsockSock()}`)) process.kill(pid, 'SIGKILL');
    await until(() => ch.transport === 'virtio-serial', 'the port to take over');
    expect(await echo(ch, 'over the port')).toBe('over the port\n');
    await until(() => ch.transport === 'vsock', 'vsock back (agent respawns its socat, the daemon redials)');
    expect(await echo(ch, 'vsock again')).toBe('vsock again\n');
    expect(states).not.toContain('connecting'); // the VM's agent stayed ready throughout
    ch.close();
    await until(() => pidsWith(`STDIO UNIX-CONNECT:${vsockSock()}`).length === 0, 'the bridge socat to end on close');
  });

  it('is ready over the port when vsock never answers, redialling with one socat at a time', async () => {
    startAgent();
    const ch = open(`UNIX-CONNECT:${join(dir, 'nobody.sock')}`);
    await ch.whenReady(8000);
    expect(ch.transport).toBe('virtio-serial');
    expect(await echo(ch, 'port only')).toBe('port only\n');
    let most = 0;
    for (let i = 0; i < 40; i++, await sleep(25)) most = Math.max(most, pidsWith(`STDIO UNIX-CONNECT:${join(dir, 'nobody.sock')}`).length);
    expect(most).toBeLessThanOrEqual(1);
    ch.close();
    await until(() => pidsWith('nobody.sock').length === 0, 'no bridge socat after close');
  });

  it('closing while a bridge is still connecting kills that socat too', async () => {
    const slow = join(dir, 'later.sock');
    const ch = open(`UNIX-CONNECT:${slow},retry=1000,interval=0.1`); // socat keeps trying: a connect that hangs
    await until(() => pidsWith(slow).length === 1, 'the pending bridge');
    await sleep(300);
    expect(pidsWith(slow)).toHaveLength(1);
    ch.close();
    await until(() => pidsWith(slow).length === 0, 'the pending bridge to be killed', 2000);
  });

  it('reports why a dial failed (socat\'s own error), then closes', async () => {
    const conn = dialSocat(`UNIX-CONNECT:${join(dir, 'missing.sock')}`)();
    const events: string[] = [];
    conn.on('error', (e) => events.push(`error: ${e.message}`));
    await new Promise<void>((r) => conn.on('close', () => r()));
    expect(events).toEqual([expect.stringMatching(/socat exited \(code 1\).*No such file or directory/)]);
    const missing = dialSocat('UNIX-CONNECT:/x', join(dir, 'no-socat'))();
    const err = await new Promise<Error>((r) => missing.on('error', r));
    expect(err.message).toMatch(/cannot run .*no-socat/);
  });

  it('a daemon that dies without closing leaves no socat: stdin reaches EOF and socat exits', async () => {
    startAgent();
    await until(() => existsSync(vsockSock()), 'the agent to listen on its vsock side');
    const bridge = new URL('./vsock-bridge.js', import.meta.url).pathname.replace('/src/', '/dist/');
    const script = `import { dialSocat } from ${JSON.stringify(bridge)}; const c = dialSocat(${JSON.stringify(`UNIX-CONNECT:${vsockSock()}`)})(); c.on('connect', () => console.log('up')); setInterval(() => {}, 1000);`;
    const daemon = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((r) => daemon.stdout?.on('data', () => r()));

    const bridges = pidsWith(`STDIO UNIX-CONNECT:${vsockSock()}`);
    expect(bridges).toHaveLength(1);
    daemon.kill('SIGKILL');
    await until(() => pidsWith(`STDIO UNIX-CONNECT:${vsockSock()}`).length === 0, 'the orphaned socat to exit', 5000);
  });
});
