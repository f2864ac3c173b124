import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LodgeEventRecord } from '@lodge/api';
import { sleep, TestLodge } from './harness.js';

/** The agent's init wrapper waits while this file exists: the test's way to keep our agent off the port. */
const HOLD = '/run/lodge/agent.hold';

describe('the guest channel under faults', () => {
  const lodge = new TestLodge();
  const exec = (vm: string, script: string) => lodge.cli(['exec', vm, '--', 'sh', '-c', script]);
  const waitGuest = async (vm: string, want: (s: Awaited<ReturnType<typeof lodge.client.guest>>) => boolean, ms = 60_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const s = await lodge.client.guest(vm).catch(() => undefined);
      if (s && want(s)) return s;
      if (Date.now() > deadline) throw new Error(`guest of ${vm} did not reach the wanted state: ${JSON.stringify(s)}`);
      await sleep(200);
    }
  };
  beforeAll(async () => {
    await lodge.startDaemon();
    await lodge.bootVm('gf', ['--memory', '384M']);
  });
  afterAll(() => lodge.cleanup());

  it('the agent killed in the guest comes back, and the host re-syncs', async () => {
    const before = await lodge.client.guest('gf');
    const pid = (await exec('gf', 'pidof node')).stdout.trim().split(' ');
    expect(pid.length).toBeGreaterThan(0);
    const running = await lodge.client.exec('gf', { argv: ['sleep', '302'] }, { stdout: () => undefined, stderr: () => undefined });
    const outcome = running.result.then(() => 'finished', (e: unknown) => e);
    // Killed from a detached shell: the exec that asks for it runs through the agent being killed.
    await exec('gf', 'setsid sh -c "sleep 0.3; killall -9 node" >/dev/null 2>&1 &');
    // Ready again means a new session: the restarted agent's Hello gives a new readyAt.
    await waitGuest('gf', (s) => s.state === 'ready' && s.readyAt !== before.readyAt);
    // The exec under way fails saying why, and its program died with the agent's relay.
    expect(await outcome).toMatchObject({ code: 'invalid_state', message: 'the guest agent restarted while this was under way' });
    expect((await exec('gf', 'pidof sleep || echo none')).stdout).toBe('none\n');
    const r = await exec('gf', 'echo back-$((20+1)); pidof node');
    expect(r.stdout).toMatch(/^back-21\n/);
    expect(r.stdout.split('\n')[1]).not.toBe(pid.join(' '));
  });

  it('lodge-port killed in the guest: the agent starts a new one and the host re-syncs', async () => {
    const before = await lodge.client.guest('gf');
    const agent = (await exec('gf', 'pidof node')).stdout.trim();
    const relay = (await exec('gf', 'pidof lodge-port')).stdout.trim();
    await exec('gf', 'setsid sh -c "sleep 0.3; kill -9 $(pidof lodge-port)" >/dev/null 2>&1 &');
    await waitGuest('gf', (s) => s.state === 'ready' && s.readyAt !== before.readyAt);
    const r = await exec('gf', 'echo relay-back; pidof node; pidof lodge-port');
    const [said, node, newRelay] = r.stdout.split('\n');
    expect(said).toBe('relay-back');
    expect(node).toBe(agent); // the same agent: only its relay was replaced
    expect(newRelay).not.toBe(relay);
  });

  it('lodge-port killed during big copies both ways: each fails with a reason, and the next ones are whole', async () => {
    const big = randomBytes(24 * 1024 * 1024);
    const file = join(lodge.home, 'big.bin');
    writeFileSync(file, big);
    for (const way of ['up', 'down'] as const) {
      const before = await lodge.client.guest('gf');
      if (way === 'down') expect((await lodge.cli(['cp', file, 'gf:/tmp/big.bin'])).code).toBe(0);
      await exec('gf', 'setsid sh -c "sleep 1; kill -9 $(pidof lodge-port)" >/dev/null 2>&1 &');
      const cut = way === 'up' ? await lodge.cli(['cp', file, 'gf:/tmp/big.bin']) : await lodge.cli(['cp', 'gf:/tmp/big.bin', join(lodge.home, 'back.bin')]);
      // Under TCG the copy may also win the race; either way the agent and its new relay carry the next copy.
      if (cut.code !== 0) expect(cut.stderr).toMatch(/guest|agent|reset|channel/i);
      await waitGuest('gf', (s) => s.state === 'ready' && s.readyAt !== before.readyAt);
    }
    expect((await lodge.cli(['cp', file, 'gf:/tmp/big2.bin'])).code).toBe(0);
    expect((await lodge.cli(['cp', 'gf:/tmp/big2.bin', join(lodge.home, 'back2.bin')])).code).toBe(0);
    expect(readFileSync(join(lodge.home, 'back2.bin')).equals(big)).toBe(true);
  });

  it('the daemon restarted (kill -9) while the guest keeps running: the channel is re-established, lodge-port\'s fast path too', async () => {
    await lodge.killDaemon();
    await lodge.startDaemon();
    await waitGuest('gf', (s) => s.state === 'ready');
    const r = await exec('gf', 'echo after-restart; cat /proc/$PPID/comm');
    expect(r.code, r.stderr).toBe(0);
    // lodge-port runs plain execs again (it once took the host's answer to the agent's Hello for a new session).
    expect(r.stdout).toBe('after-restart\nlodge-port\n');
  });

  it('an exec or a copy at once after lodged restarts (nothing waited for) goes through our agent: it does not fail or take QGA', async () => {
    // The guest has both agents and QGA may answer first. Through the client (no CLI start-up in between), this failed
    // on its first exec before requests waited for the agent: "not connected" (or, a little later, an exec through QGA).
    for (let i = 0; i < 4; i++) {
      await lodge.killDaemon();
      await lodge.startDaemon();
      let out = '';
      const session = await lodge.client.exec('gf', { argv: ['echo', `now-${i}`] }, { stdout: (c) => void (out += c.toString()), stderr: () => undefined });
      const result = await session.result;
      expect([result.exitCode, result.via, out]).toEqual([0, 'lodge-agent', `now-${i}\n`]);
    }
    await lodge.killDaemon();
    await lodge.startDaemon();
    const cp = await lodge.cli(['cp', 'gf:/etc/hostname', join(lodge.home, 'hostname')]);
    expect(cp.code, cp.stderr).toBe(0);
    expect(readFileSync(join(lodge.home, 'hostname'), 'utf8')).toBe('gf\n'); // the guest is named after its VM
  });

  it('garbage from the guest on the agent port does not hurt the daemon; the agent resyncs', async () => {
    // Hold our agent off the port, then let a guest program write 20 MB of random bytes into it.
    await exec('gf', `mkdir -p /run/lodge && touch ${HOLD} && (setsid sh -c "sleep 0.3; killall -9 node; sleep 1; head -c 20000000 /dev/urandom > /dev/virtio-ports/org.lodge.agent.0; rm -f ${HOLD}" >/dev/null 2>&1 &)`);
    await sleep(1500);
    await waitGuest('gf', (s) => s.state === 'ready' && s.via === 'lodge-agent', 90_000);
    expect((await lodge.client.ping()).ok).toBe(true);
    expect((await exec('gf', 'echo survived')).stdout).toBe('survived\n');
  });

  it('without our agent, exec, files and info fall back to the QEMU guest agent, with a note', async () => {
    // An exec running when our agent dies for good (held off by init here) fails once the agent has been silent for
    // ~20 s, instead of waiting for ever; lodge-port killed its program as the agent went.
    const long = await lodge.client.exec('gf', { argv: ['sh', '-c', 'sleep 301; true'] }, { stdout: () => undefined, stderr: () => undefined });
    const outcome = long.result.then(() => 'finished', (e: unknown) => e);
    await exec('gf', `touch ${HOLD}; setsid sh -c "sleep 0.3; killall -9 node" >/dev/null 2>&1 &`);
    const status = await waitGuest('gf', (s) => s.via === 'qemu-guest-agent' && s.state === 'ready', 60_000);
    expect(status.note).toMatch(/Lodge agent/);
    expect(status.info?.kernel.release).toMatch(/cloud-amd64/);
    const r = await lodge.cli(['exec', 'gf', '--', 'sh', '-c', 'echo via-qga; echo err >&2; exit 3']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('via-qga\n');
    expect(r.stderr).toContain('err');
    const shell = await lodge.cli(['shell', 'gf', '-t']);
    expect(shell.code).toBe(1);
    expect(shell.stderr).toMatch(/Lodge agent/);
    // qemu-ga's spawn failure gives the exit codes our agent gives: 127 not found, 126 not runnable.
    const missing = await lodge.cli(['exec', 'gf', '--', 'no-such-program']);
    expect([missing.code, missing.stderr]).toEqual([127, expect.stringMatching(/^lodge: guest agent command "guest-exec" failed: .*no-such-program.*No such file or directory/)]);
    expect((await lodge.cli(['exec', 'gf', '--', '/etc/passwd'])).code).toBe(126);
    expect(await outcome).toMatchObject({ code: 'invalid_state', message: expect.stringMatching(/^the guest agent has not answered for \d+ s \(it stopped/) });
    expect((await exec('gf', 'ps -o args | grep -c "^sleep 301"')).stdout).toBe('0\n');
    // And back: releasing the hold lets init start our agent again.
    await lodge.cli(['exec', 'gf', '--', 'rm', '-f', HOLD]);
    await waitGuest('gf', (s) => s.via === 'lodge-agent' && s.state === 'ready', 60_000);
  });

  it('a guest that ignores ACPI is shut down through the agent', async () => {
    await exec('gf', 'killall acpid');
    const started = Date.now();
    const r = await lodge.cli(['stop', 'gf']);
    expect(r.code, r.stderr).toBe(0);
    const info = await lodge.client.get('gf');
    expect(info.state).toBe('stopped');
    expect(info.stateReason ?? '').toMatch(/agent/i);
    expect(Date.now() - started).toBeLessThan(25_000);
    const events: LodgeEventRecord[] = [];
    const stream = await lodge.client.events({ vm: 'gf', since: 0 });
    for await (const e of stream) {
      events.push(e);
      if (events.length > 500 || (e.type === 'vm.state' && e.to === 'stopped')) break;
    }
    stream.close();
    // The guest's comings and goings are on the event stream, both channels.
    const guest = events.flatMap((e) => (e.type === 'vm.guest' ? [`${e.via ?? '-'}:${e.state}`] : []));
    expect(guest).toContain('lodge-agent:ready');
    expect(guest).toContain('qemu-guest-agent:ready');
  });

  it('start --no-wait returns once QEMU runs; the guest becomes ready afterwards', async () => {
    const r = await lodge.cli(['start', 'gf', '--no-wait']);
    expect(r.code, r.stderr).toBe(0);
    const info = await lodge.client.get('gf');
    expect(info.state).toBe('running');
    expect(info.guest?.state).not.toBe('ready'); // Node alone takes seconds to start in the guest
    await waitGuest('gf', (s) => s.state === 'ready' && s.via === 'lodge-agent', 90_000);
  });
});
