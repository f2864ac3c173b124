import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LodgeEventRecord } from '@lodge/api';
import { DEBIAN_IMAGE_NAME } from '../../packages/daemon/src/images/debian-image.js';
import { buildTestImage, TestLodge } from './harness.js';

// `lodge start` follows first-boot provisioning on debian-12: steps printed as they happen, vm.provision events,
// provision_failed with the script's name, exit code or time-out and output; the VM keeps running after a failure.
// Three VMs boot at once: "good" (a once and a boot script), "bad" (made by the CLI from a test HOME: default user
// with its key, a script exiting 3), "slow" (a script that hangs past its 5 s timeout).
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2eTestKeyTestKeyTestKeyTestKeyTestKeyTestKe e2e@host';

describe('lodge start follows provisioning (debian-12)', () => {
  const lodge = new TestLodge({ SUDO_USER: '' });
  const home = join(lodge.home, 'user-home');
  const starts = new Map<string, Promise<{ code: number; stdout: string; stderr: string; seconds: number }>>();
  const start = (vm: string) => {
    const t0 = performance.now();
    return lodge.cli(['start', vm, '--ready-timeout', '900'], { timeoutMs: 1_000_000 }).then((r) => ({ ...r, seconds: (performance.now() - t0) / 1000 }));
  };
  const sh = async (vm: string, script: string): Promise<string> => {
    const r = await lodge.cli(['exec', vm, '--', 'sh', '-c', script], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  };

  beforeAll(async () => {
    const t0 = performance.now();
    const built = await buildTestImage(DEBIAN_IMAGE_NAME);
    console.log(`debian-12 ${built.cached ? 'cache hit' : 'built'} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await lodge.startDaemon();
    mkdirSync(join(home, '.ssh'), { recursive: true });
    writeFileSync(join(home, '.ssh', 'id_ed25519.pub'), `${KEY}\n`);
    writeFileSync(join(home, 'fail.sh'), '#!/bin/sh\necho "about to fail"\necho "no such widget: frobnicator" >&2\nexit 3\n');
    const base = { image: DEBIAN_IMAGE_NAME, memory: '512M', cpus: 1 };
    await lodge.client.create({
      ...base, name: 'good', user: false,
      provision: [
        { name: 'setup', run: 'once', script: '#!/bin/sh\necho set up >/var/tmp/setup.log\n' },
        { name: 'tick', run: 'boot', script: '#!/bin/sh\necho tick >>/var/tmp/ticks\n' },
      ],
    });
    await lodge.client.create({ ...base, name: 'slow', user: false, provision: [{ name: 'hang', script: '#!/bin/sh\necho hanging\nsleep 600\n', timeout: '5s' }] });
    const created = await lodge.cli(['create', 'bad', '--image', DEBIAN_IMAGE_NAME, '--memory', '512M', '--provision', join(home, 'fail.sh')], { env: { HOME: home } });
    expect(created.code, created.stderr).toBe(0);
    for (const vm of ['good', 'bad', 'slow']) starts.set(vm, start(vm)); // boot together
    await Promise.all(starts.values());
  }, 1_500_000);
  afterAll(() => lodge.cleanup(), 60_000);

  it('prints each provisioning step and succeeds; vm.provision events are in /v1/events', async () => {
    const r = await (starts.get('good') as Promise<{ code: number; stderr: string; seconds: number }>);
    console.log(`lodge start good: ${r.seconds.toFixed(1)} s\n${r.stderr}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('good: provisioning: script setup (1/2)\n');
    expect(r.stderr).toContain('good: provisioning: script tick (2/2): ok\n');
    expect(r.stderr).toMatch(/good: provisioning: done/);
    expect(await sh('good', 'cat /var/tmp/setup.log /var/tmp/ticks')).toBe('set up\ntick\n');
    const events = await lodge.client.events({ vm: 'good', since: 0 });
    const seen: LodgeEventRecord[] = [];
    const timer = setTimeout(() => events.close(), 3000);
    for await (const ev of events) {
      seen.push(ev);
      if (ev.type === 'vm.provision' && ev.step === 'done') break;
    }
    clearTimeout(timer);
    events.close();
    const at = (pred: (e: LodgeEventRecord) => boolean): number => Date.parse(seen.find(pred)?.time ?? '');
    const ready = at((e) => e.type === 'vm.guest' && e.state === 'ready');
    const firstRecord = at((e) => e.type === 'vm.provision');
    const done = at((e) => e.type === 'vm.provision' && e.step === 'done');
    console.log(`good: guest ready → first provisioning record ${((firstRecord - ready) / 1000).toFixed(1)} s → done ${((done - ready) / 1000).toFixed(1)} s`);
    const provision = seen.flatMap((e) => (e.type === 'vm.provision' ? [`${e.step} ${e.name ?? ''} ${e.status}`.replace('  ', ' ')] : []));
    expect(provision).toEqual(expect.arrayContaining(['script setup started', 'script setup ok', 'script tick started', 'script tick ok', 'done ok']));
  });

  it('a failing script fails the start with its name, exit code and output; the VM keeps running', async () => {
    const r = await (starts.get('bad') as Promise<{ code: number; stderr: string; seconds: number }>);
    console.log(`lodge start bad: ${r.seconds.toFixed(1)} s\n${r.stderr}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('bad: provisioning: script fail (1/1): failed (exited with code 3)\n');
    expect(r.stderr).toContain('lodge: provisioning of VM "bad" failed: script "fail" exited with code 3\n');
    expect(r.stderr).toContain('  | no such widget: frobnicator\n');
    expect(r.stderr).toMatch(/hint: the VM is still running: .*lodge exec bad -- cat \/var\/log\/lodge-provision.log.*lodge restart bad/);
    const info = await lodge.cliJson<{ state: string }>(['info', 'bad']);
    expect(info.state).toBe('running');
  });

  it('the default user is the host user ("lodge" as root) with the key from ~/.ssh', async () => {
    expect(await sh('bad', 'cat /home/lodge/.ssh/authorized_keys; runuser -u lodge -- sudo -n true && echo sudo-ok')).toBe(`${KEY}\nsudo-ok\n`);
    const info = await lodge.cli(['info', 'bad']);
    expect(info.stdout).toMatch(/user: +lodge \(sudo, 1 SSH key\)/);
    expect(info.stdout).toMatch(/scripts: +fail \(system, once, timeout 600 s\)/);
  });

  it('a script past its timeout fails the start saying it timed out after 5 s', async () => {
    const r = await (starts.get('slow') as Promise<{ code: number; stderr: string; seconds: number }>);
    console.log(`lodge start slow: ${r.seconds.toFixed(1)} s\n${r.stderr}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('lodge: provisioning of VM "slow" failed: script "hang" timed out after 5 s\n');
    expect(r.stderr).toContain('  | hanging\n');
    expect((await lodge.cliJson<{ state: string }>(['info', 'slow'])).state).toBe('running');
  });
});
