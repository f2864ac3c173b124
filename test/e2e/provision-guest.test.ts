import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProvisionLine, ProvisionRecord } from '@lodge/api/guest';
import { DEBIAN_IMAGE_NAME } from '../../packages/daemon/src/images/debian-image.js';
import { buildTestImage, sleep, TestLodge } from './harness.js';

// A debian-12 VM created through the API with first-boot settings: lodge-guest provision applies them at boot
// (hostname, users, keys, sudo, files, scripts) and reports to /run/lodge/provision.jsonl. Three boots: the
// first stops at a script that fails once, the second runs it again, the third shows once vs every boot.
const VM = 'prov';
const KEY_DEV = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDevDevDevDevDevDevDevDevDevDevDevDevDevDe dev@host';
const KEY_OPS = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpsOpsOpsOpsOpsOpsOpsOpsOpsOpsOpsOpsOpsOp ops@host';
const T = '/var/lib/lodge-test';

const SCRIPTS = [
  { name: 'setup', run: 'once' as const, script: `#!/bin/sh\nset -e\nmkdir -p ${T}\necho ran >>${T}/once.log\nenv | sort >${T}/env\n` },
  { name: 'as-user', mode: 'user' as const, run: 'once' as const, script: '#!/bin/sh\nid -un >>"$HOME/once-user.log"\n' },
  // No "#!": run with /bin/sh. Fails the first time (exit 7, ~12 KB of output), succeeds when run again.
  {
    name: 'flaky', run: 'once' as const, timeout: '60s',
    script: `echo run >>${T}/flaky.log\n[ -e ${T}/flaky-ok ] && exit 0\ntouch ${T}/flaky-ok\nhead -c 12000 /dev/zero | tr '\\0' x\necho\necho flaky-end\nexit 7\n`,
  },
  { name: 'tick', run: 'boot' as const, script: `#!/bin/sh\necho tick >>${T}/ticks\n` },
  { name: 'user-tick', mode: 'user' as const, run: 'boot' as const, script: '#!/bin/sh\necho tick >>"$HOME/ticks"\n' },
];

describe('first-boot provisioning in debian-12', () => {
  const lodge = new TestLodge();
  const sh = async (script: string) => {
    const r = await lodge.cli(['exec', VM, '--', 'sh', '-c', script], { timeoutMs: 180_000 });
    expect(r.code, `${script}\n${r.stderr}`).toBe(0);
    return r.stdout;
  };
  /** This boot's progress once its done line is there. */
  const progress = async (): Promise<ProvisionLine[]> => {
    const deadline = Date.now() + 240_000;
    for (;;) {
      const r = await lodge.cli(['exec', VM, '--', 'cat', '/run/lodge/provision.jsonl'], { timeoutMs: 60_000 });
      const lines = r.code === 0 ? r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as ProvisionLine) : [];
      if (lines.some((l) => 'done' in l)) return lines;
      if (Date.now() > deadline) throw new Error(`provisioning did not finish: ${r.stdout}${r.stderr}`);
      await sleep(1000);
    }
  };
  const summary = (lines: ProvisionLine[]) => lines.map((l) => ('done' in l ? `done ${l.ok}` : [l.step, l.name, l.status].filter(Boolean).join(' ')));
  /** `lodge start` follows provisioning: a failed script fails it (the VM keeps running), with its name and exit code. */
  const boot = async (action: 'start' | 'restart', failure?: RegExp) => {
    const t0 = performance.now();
    const r = await lodge.cli(action === 'start' ? ['start', VM, '--ready-timeout', '300'] : ['restart', VM], { timeoutMs: 540_000 }); // start now includes provisioning
    expect(r.code, `${r.stderr}\n${lodge.consoleLog(VM).slice(-3000)}`).toBe(failure ? 1 : 0);
    if (failure) expect(r.stderr).toMatch(failure);
    const ready = performance.now() - t0;
    const lines = await progress();
    console.log(`lodge ${action} (follows provisioning) returned after ${(ready / 1000).toFixed(1)} s, done line read after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return lines;
  };

  beforeAll(async () => {
    const t0 = performance.now();
    const built = await buildTestImage(DEBIAN_IMAGE_NAME);
    console.log(`debian-12 ${built.cached ? 'cache hit' : 'built'} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect(built.image.firstBoot).toBe('lodge');
    await lodge.startDaemon();
    await lodge.client.create({
      name: VM, image: DEBIAN_IMAGE_NAME, memory: '512M', cpus: 1,
      hostname: 'prov-box',
      user: { name: 'dev', sshKeys: [KEY_DEV] },
      users: [{ name: 'ops', sudo: true, groups: ['ops-team', 'adm'], shell: '/bin/sh', sshKeys: [KEY_OPS] }],
      files: [
        { path: '/etc/lodge-test/motd.txt', content: 'hello from the seed\n', mode: '0640', owner: 'root:ops-team' },
        { path: '/opt/lodge-test/blob.bin', content: Buffer.from([0, 1, 2, 255]).toString('base64'), encoding: 'base64', mode: '600' },
        { path: '/home/dev/notes/todo.txt', content: 'deferred\n', owner: 'dev' },
      ],
      provision: SCRIPTS,
    });
  }, 900_000);
  afterAll(() => lodge.cleanup(), 60_000);

  let first: ProvisionLine[];
  it('first boot: hostname, users, files and scripts, until the failing script', async () => {
    first = await boot('start', /provisioning of VM "prov" failed: script "flaky" exited with code 7\n[^]*  \| flaky-end\n/);
    const seed = (first[0] as ProvisionRecord).name ?? '';
    expect(seed).toMatch(/^\/dev\/(disk\/by-label\/cidata|vd[b-z])$/);
    const file = (path: string) => [`files ${path} started`, `files ${path} ok`];
    const scriptFile = (base: string) => file(`/var/lib/lodge/provision/scripts/${base}`);
    expect(summary(first)).toEqual([
      `seed ${seed} started`, `seed ${seed} ok`,
      'hostname prov-box started', 'hostname prov-box ok',
      'users dev started', 'users dev ok', 'users ops started', 'users ops ok',
      ...file('/etc/lodge-test/motd.txt'), ...file('/opt/lodge-test/blob.bin'),
      ...scriptFile('01-setup'), ...scriptFile('02-as-user'), ...scriptFile('03-flaky'),
      ...scriptFile('04-tick'), ...file('/var/lib/cloud/scripts/per-boot/04-tick'),
      ...scriptFile('05-user-tick'), ...file('/var/lib/cloud/scripts/per-boot/05-user-tick'),
      ...file('/home/dev/notes/todo.txt'),
      'script 01-setup started', 'script 01-setup ok', 'script 02-as-user started', 'script 02-as-user ok',
      'script 03-flaky started', 'script 03-flaky failed',
      'done false',
    ]);
  }, 600_000);

  it('the failed record carries the output tail and the exit code; the unit failed', async () => {
    const failed = first.at(-2) as ProvisionRecord;
    expect(failed).toMatchObject({ step: 'script', name: '03-flaky', status: 'failed', exitCode: 7 });
    expect(failed.timedOut).toBeUndefined();
    expect(Buffer.byteLength(failed.output ?? '')).toBe(8192);
    expect(failed.output?.endsWith('x\nflaky-end\n')).toBe(true);
    expect(first.at(-1)).toMatchObject({ done: true, ok: false, message: expect.stringContaining('03-flaky') });
    expect(await sh('systemctl is-failed lodge-provision.service || true')).toBe('failed\n');
    expect(await sh('grep -c flaky-end /var/log/lodge-provision.log')).toBe('1\n');
  }, 120_000);

  it('set the hostname and the users, with keys, groups, locked passwords and sudo', async () => {
    expect(await sh('hostname; cat /etc/hostname; grep ^127.0.1.1 /etc/hosts')).toBe('prov-box\nprov-box\n127.0.1.1 prov-box\n');
    expect(await sh('getent passwd dev ops | cut -d: -f1,6,7')).toBe('dev:/home/dev:/bin/bash\nops:/home/ops:/bin/sh\n');
    expect(await sh('id -nG ops | tr " " "\\n" | sort | tr "\\n" " "')).toBe('adm ops ops-team ');
    expect(await sh('passwd -S dev | cut -d" " -f2; passwd -S ops | cut -d" " -f2')).toBe('L\nL\n');
    expect(await sh('cat /home/dev/.ssh/authorized_keys; stat -c "%a %U" /home/dev/.ssh /home/dev/.ssh/authorized_keys')).toBe(`${KEY_DEV}\n700 dev\n600 dev\n`);
    expect(await sh('cat /home/ops/.ssh/authorized_keys')).toBe(`${KEY_OPS}\n`);
    expect(await sh('runuser -u dev -- sudo -n true && runuser -u ops -- sudo -n id -un')).toBe('root\n');
    expect(await sh('ls /etc/sudoers.d; stat -c %a /etc/sudoers.d/90-lodge-dev')).toBe('90-lodge-dev\n90-lodge-ops\nREADME\n440\n');
  }, 120_000);

  it('wrote the files (text, base64, mode, owner, a deferred one owned by the new user)', async () => {
    expect(await sh('cat /etc/lodge-test/motd.txt; stat -c "%a %U:%G" /etc/lodge-test/motd.txt')).toBe('hello from the seed\n640 root:ops-team\n');
    expect(await sh('od -An -tu1 /opt/lodge-test/blob.bin | tr -s " "; stat -c "%a %U" /opt/lodge-test/blob.bin')).toBe(' 0 1 2 255\n600 root\n');
    expect(await sh('cat /home/dev/notes/todo.txt; stat -c "%a %U:%G" /home/dev/notes/todo.txt')).toBe('deferred\n644 dev:dev\n');
  }, 120_000);

  it('ran scripts as root with a clean environment, and user scripts as the default user', async () => {
    const env = await sh(`cat ${T}/env`);
    expect(env).toContain('HOME=/root\n');
    expect(env).toContain('LANG=C.UTF-8\n');
    expect(env).not.toContain('INVOCATION_ID');
    expect(await sh('cat /home/dev/once-user.log')).toBe('dev\n');
  }, 120_000);

  it('second boot: the failed script runs again, the done ones do not, boot scripts run', async () => {
    const second = await boot('restart');
    expect(summary(second).filter((s) => !s.startsWith('seed'))).toEqual([
      'hostname prov-box started', 'hostname prov-box ok',
      'users skipped', 'files skipped', 'files skipped',
      'script 01-setup skipped', 'script 02-as-user skipped', 'script 03-flaky started', 'script 03-flaky ok',
      'script 04-tick started', 'script 04-tick ok', 'script 05-user-tick started', 'script 05-user-tick ok',
      'done true',
    ]);
    expect(await sh('systemctl is-active lodge-provision.service')).toBe('active\n');
  }, 600_000);

  it('third boot: once scripts ran exactly once, the flaky one twice, boot scripts at each boot since', async () => {
    const third = await boot('restart');
    expect(third.at(-1)).toMatchObject({ done: true, ok: true });
    expect(await sh(`wc -l <${T}/once.log; wc -l <${T}/flaky.log; wc -l <${T}/ticks; wc -l </home/dev/once-user.log; wc -l </home/dev/ticks`)).toBe('1\n2\n2\n1\n2\n');
    expect(await sh('stat -c %U /home/dev/ticks')).toBe('dev\n');
    console.log(await sh('systemd-analyze blame | grep -E "lodge-(provision|agent)"; journalctl -b -o short-monotonic -u lodge-agent -u lodge-provision | grep -iE "started|finished|deactivated" | head'));
  }, 600_000);
});
