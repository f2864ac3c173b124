import { chmod, readFile, stat } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROVISION_SCRIPTS_DIR, type LodgeCloudConfig, type ProvisionLine } from '@lodge/api/guest';
import { FakeGuest } from './fake-guest.js';
import { provision } from './provisioner.js';

const META = { 'instance-id': 'vm-1', 'local-hostname': 'box' };
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA dev@host';
const script = (n: string) => `${PROVISION_SCRIPTS_DIR}/${n}`;
const CONFIG: LodgeCloudConfig = {
  hostname: 'box', manage_etc_hosts: true, ssh_pwauth: false,
  users: [
    { name: 'dev', shell: '/bin/bash', sudo: 'ALL=(ALL) NOPASSWD:ALL', lock_passwd: true, ssh_authorized_keys: [KEY] },
    { name: 'ops', shell: '/bin/sh', groups: 'sudo,ops-team', lock_passwd: true, ssh_authorized_keys: [] },
  ],
  write_files: [
    { path: '/etc/app/app.conf', content: 'port=1\n', permissions: '0640', owner: 'root:root' },
    { path: '/home/dev/.config/bin.dat', content: Buffer.from([0, 1, 255]).toString('base64'), encoding: 'b64', permissions: '0600', owner: 'dev:dev', defer: true },
    { path: script('01-setup'), content: '#!/bin/sh\necho hi\n', permissions: '0755', owner: 'root:root' },
  ],
  package_update: true,
  packages: ['git'],
  runcmd: [['timeout', '-k', '5', '600', script('01-setup')], ['/bin/sh', '-c', 'echo two']],
};

/** Records as "step name status" strings, and the done line as "done ok|failed". */
const summary = (lines: ProvisionLine[]) =>
  lines.map((l) => ('done' in l ? `done ${l.ok ? 'ok' : 'failed'}` : [l.step, l.name, l.status].filter(Boolean).join(' ')));

let guest: FakeGuest;
beforeEach(async () => {
  guest = await FakeGuest.create();
});
afterEach(() => guest.cleanup());

async function boot(): Promise<ProvisionLine[]> {
  guest.ran.length = 0;
  expect(await provision(guest)).toBeTypeOf('boolean');
  return (await guest.read('/run/lodge/provision.jsonl')).trim().split('\n').map((l) => JSON.parse(l) as ProvisionLine);
}

describe('provision', () => {
  it('does the work in cloud-init order and reports each step', async () => {
    await guest.seed(META, CONFIG);
    await guest.write('/var/lib/cloud/scripts/per-boot/20-b', '#!/bin/sh\n');
    await guest.write('/var/lib/cloud/scripts/per-boot/10-a', '#!/bin/sh\n');
    await guest.write('/var/lib/cloud/scripts/per-boot/15-not-executable', '');
    await chmod(guest.path('/var/lib/cloud/scripts/per-boot/20-b'), 0o755);
    await chmod(guest.path('/var/lib/cloud/scripts/per-boot/10-a'), 0o755);
    const lines = await boot();
    expect(summary(lines)).toEqual([
      'seed /dev/vdb started', 'seed /dev/vdb ok',
      'hostname box started', 'hostname box ok',
      'users dev started', 'users dev ok', 'users ops started', 'users ops ok',
      'files /etc/app/app.conf started', 'files /etc/app/app.conf ok',
      `files ${script('01-setup')} started`, `files ${script('01-setup')} ok`,
      'packages started', 'packages ok',
      'files /home/dev/.config/bin.dat started', 'files /home/dev/.config/bin.dat ok',
      'script 01-setup started', 'script 01-setup ok', 'script runcmd-2 started', 'script runcmd-2 ok',
      'script 10-a started', 'script 10-a ok', 'script 20-b started', 'script 20-b ok',
      'done ok',
    ]);
    expect(lines.every((l) => !Number.isNaN(Date.parse(l.time)))).toBe(true);
    expect(guest.commands()).toEqual([
      'useradd -m -U -s /bin/bash dev',
      'visudo -cf /etc/sudoers.d/.lodge-dev.tmp',
      'groupadd ops-team',
      'useradd -m -U -s /bin/sh -G sudo,ops-team ops',
      'apt-get update',
      'apt-get install -y git',
      `timeout -k 5 600 ${script('01-setup')}`,
      '/bin/sh -c echo two',
      '/var/lib/cloud/scripts/per-boot/10-a',
      '/var/lib/cloud/scripts/per-boot/20-b',
    ]);
  });

  it('writes hostname, users, keys, sudo rule and files', async () => {
    await guest.seed(META, CONFIG);
    await boot();
    expect(await guest.read('/etc/hostname')).toBe('box\n');
    expect(await guest.read('/proc/sys/kernel/hostname')).toBe('box');
    expect(await guest.read('/etc/hosts')).toBe('127.0.0.1 localhost\n127.0.1.1 box\n::1 localhost\n');
    const dev = (await guest.read('/etc/passwd')).split('\n').find((l) => l.startsWith('dev:'))?.split(':') ?? [];
    const [uid, gid] = [Number(dev[2]), Number(dev[3])];
    expect(await guest.read('/home/dev/.ssh/authorized_keys')).toBe(`${KEY}\n`);
    expect((await stat(guest.path('/home/dev/.ssh/authorized_keys'))).mode & 0o777).toBe(0o600);
    expect((await stat(guest.path('/home/dev/.ssh'))).mode & 0o777).toBe(0o700);
    expect(guest.chowns).toEqual(expect.arrayContaining([
      { path: '/home/dev/.ssh', uid, gid }, { path: '/home/dev/.ssh/authorized_keys', uid, gid },
      { path: '/etc/app/app.conf', uid: 0, gid: 0 }, { path: '/home/dev/.config/bin.dat', uid, gid },
    ]));
    expect(await guest.read('/etc/sudoers.d/90-lodge-dev')).toBe('dev ALL=(ALL) NOPASSWD:ALL\n');
    expect((await stat(guest.path('/etc/sudoers.d/90-lodge-dev'))).mode & 0o777).toBe(0o440);
    await expect(stat(guest.path('/etc/sudoers.d/90-lodge-ops'))).rejects.toThrow();
    expect(await guest.read('/etc/app/app.conf')).toBe('port=1\n');
    expect((await stat(guest.path('/etc/app/app.conf'))).mode & 0o777).toBe(0o640);
    expect([...Buffer.from(await readFile(guest.path('/home/dev/.config/bin.dat')))]).toEqual([0, 1, 255]);
  });

  it('runs commands with a clean environment; apt without questions, after waiting for a default route', async () => {
    await guest.seed(META, CONFIG);
    await guest.write('/proc/net/route', 'Iface\tDestination\tGateway\tFlags\n');
    await boot();
    const apt = guest.ran.find((r) => r.argv[0] === 'apt-get');
    expect(apt?.env).toEqual({ PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' });
    expect(apt?.logAs).toBe('packages');
    expect(guest.slept).toBe(60_000);
    const runcmd = guest.ran.find((r) => r.argv[0] === '/bin/sh');
    expect(runcmd).toEqual({ argv: ['/bin/sh', '-c', 'echo two'], env: { PATH: expect.any(String), HOME: '/root', LANG: 'C.UTF-8' }, logAs: 'runcmd-2' });
  });

  it('does users, files, packages and each runcmd entry once per instance; hostname and per-boot scripts every boot', async () => {
    await guest.seed(META, CONFIG);
    await guest.write('/var/lib/cloud/scripts/per-boot/10-a', '#!/bin/sh\n');
    await chmod(guest.path('/var/lib/cloud/scripts/per-boot/10-a'), 0o755);
    await boot();
    const second = await boot();
    expect(summary(second)).toEqual([
      'seed /dev/vdb started', 'seed /dev/vdb ok', 'hostname box started', 'hostname box ok',
      'users skipped', 'files skipped', 'packages skipped', 'files skipped',
      'script 01-setup skipped', 'script runcmd-2 skipped', 'script 10-a started', 'script 10-a ok', 'done ok',
    ]);
    expect(guest.commands()).toEqual(['/var/lib/cloud/scripts/per-boot/10-a']);
    // A new instance (another VM from a copied disk) does it all again.
    await guest.seed({ ...META, 'instance-id': 'vm-2' }, CONFIG);
    expect(summary(await boot()).filter((s) => s.endsWith('skipped'))).toEqual([]);
  });

  it('stops at a failing script with its output tail and exit code, and runs it again at the next boot', async () => {
    await guest.seed(META, CONFIG);
    guest.script = (argv) => (argv[0] === '/bin/sh' ? { code: 3, output: `${'x'.repeat(10_000)}\nthe end\n` } : undefined);
    const lines = await boot();
    expect(summary(lines).slice(-4)).toEqual(['script 01-setup ok', 'script runcmd-2 started', 'script runcmd-2 failed', 'done failed']);
    const failed = lines.at(-2);
    expect(failed).toMatchObject({ step: 'script', name: 'runcmd-2', status: 'failed', exitCode: 3 });
    expect(failed && 'output' in failed && failed.output?.length).toBe(8192);
    expect(failed && 'output' in failed && failed.output?.endsWith('the end\n')).toBe(true);
    expect(lines.at(-1)).toMatchObject({ done: true, ok: false, message: expect.stringContaining('runcmd-2') });
    guest.script = () => undefined;
    const again = await boot();
    expect(summary(again).slice(-4)).toEqual(['script 01-setup skipped', 'script runcmd-2 started', 'script runcmd-2 ok', 'done ok']);
    expect(guest.commands()).toEqual(['/bin/sh -c echo two']);
  });

  it('marks a script killed by its timeout wrapper as timed out', async () => {
    await guest.seed(META, CONFIG);
    guest.script = (argv) => (argv[0] === 'timeout' ? { code: 124, output: 'slow\n' } : argv[0] === '/bin/sh' ? { code: 124 } : undefined);
    const lines = await boot();
    expect(lines.at(-2)).toMatchObject({ step: 'script', name: '01-setup', status: 'failed', exitCode: 124, timedOut: true, output: 'slow\n' });
    await guest.write('/var/lib/lodge/provision/state/vm-1/runcmd-1', '');
    const plain = await boot();
    expect(plain.at(-2)).toMatchObject({ name: 'runcmd-2', exitCode: 124 });
    expect(plain.at(-2)).not.toHaveProperty('timedOut');
  });

  it('fails the packages step with apt output, and retries it next boot', async () => {
    await guest.seed(META, CONFIG);
    guest.script = (argv) => (argv[1] === 'install' ? { code: 100, output: 'E: Unable to locate package git\n' } : undefined);
    const lines = await boot();
    expect(lines.at(-2)).toMatchObject({ step: 'packages', status: 'failed', exitCode: 100, output: 'E: Unable to locate package git\n' });
    expect(lines.at(-2)).toMatchObject({ message: 'apt-get install -y git exited with 100: E: Unable to locate package git' });
    guest.script = () => undefined;
    expect(summary(await boot())).toContain('packages ok');
  });

  it('does not put a sudo rule visudo refuses in place', async () => {
    await guest.seed(META, CONFIG);
    guest.script = (argv) => (argv[0] === 'visudo' ? { code: 1, output: '>>> .lodge-dev.tmp: syntax error near line 1 <<<\n' } : undefined);
    const lines = await boot();
    expect(lines.at(-2)).toMatchObject({ step: 'users', name: 'dev', status: 'failed', exitCode: 1 });
    await expect(stat(guest.path('/etc/sudoers.d/90-lodge-dev'))).rejects.toThrow();
    await expect(stat(guest.path('/etc/sudoers.d/.lodge-dev.tmp'))).rejects.toThrow();
  });

  it('fails a file whose owner does not exist', async () => {
    await guest.seed(META, { ...CONFIG, write_files: [{ path: '/x', content: '', permissions: '0644', owner: 'nobody2:root' }] });
    const lines = await boot();
    expect(lines.at(-2)).toMatchObject({ step: 'files', name: '/x', status: 'failed', message: expect.stringContaining('user nobody2: not found') });
  });

  it('without a seed: a skipped seed record and a done line with ok', async () => {
    const lines = await boot();
    expect(lines).toEqual([
      { time: expect.any(String), step: 'seed', status: 'skipped', message: expect.stringContaining('no seed disk') },
      { time: expect.any(String), done: true, ok: true, message: 'nothing to provision' },
    ]);
    expect(guest.ran).toEqual([]);
  });

  it('finds the seed by label too', async () => {
    await guest.seed(META, CONFIG);
    await guest.write('/dev/disk/by-label/cidata', '');
    expect(summary(await boot())[0]).toBe('seed /dev/disk/by-label/cidata started');
  });

  it('refuses a seed of another shape, and changes nothing', async () => {
    await guest.seed(META, `#cloud-config\n${JSON.stringify({ ...CONFIG, bootcmd: [['reboot']] })}`);
    const lines = await boot();
    expect(summary(lines)).toEqual(['seed /dev/vdb started', 'seed /dev/vdb failed', 'done failed']);
    expect(lines[1]).toMatchObject({ message: expect.stringContaining('user-data has unknown keys: bootcmd') });
    expect(await guest.read('/etc/hostname')).toBe('lodge\n');
    expect(guest.commands()).toEqual([]);
  });

  it('ends with a done line on an unexpected error', async () => {
    await guest.seed(META, CONFIG);
    await guest.write('/var/lib/lodge/provision/state', 'a file where the state folder goes');
    const lines = await boot();
    expect(summary(lines).slice(-3)).toEqual(['users ops started', 'users ops ok', 'done failed']);
    expect(lines.at(-1)).toMatchObject({ done: true, ok: false, message: expect.stringContaining('unexpected error: EEXIST') });
  });

  it('names scripts and sees time-outs in the shapes Lodge writes them (user mode, sh, per-boot wrappers)', async () => {
    const wrapper = `#!/bin/sh\nexec 'timeout' '-k' '10s' '60s' 'runuser' '-u' 'dev' '--' '/bin/sh' '-c' 'cd && exec ${script('03-tick')}'\n`;
    await guest.seed(META, {
      ...CONFIG, packages: [], package_update: false,
      write_files: [{ path: '/var/lib/cloud/scripts/per-boot/03-tick', content: wrapper, permissions: '0755', owner: 'root:root' }],
      runcmd: [['timeout', '-k', '10s', '600s', 'runuser', '-u', 'dev', '--', '/bin/sh', '-c', `cd && exec /bin/sh ${script('01-as-user')}`], ['timeout', '-k', '10s', '600s', '/bin/sh', script('02-plain')]],
    });
    guest.script = (argv) => (argv[0]?.endsWith('03-tick') ? { code: 137 } : undefined);
    const lines = await boot();
    expect(summary(lines).filter((l) => l.startsWith('script'))).toEqual([
      'script 01-as-user started', 'script 01-as-user ok', 'script 02-plain started', 'script 02-plain ok', 'script 03-tick started', 'script 03-tick failed',
    ]);
    expect(lines.at(-2)).toMatchObject({ exitCode: 137, timedOut: true });
  });

  it('keeps the state folder private but not its parents (user scripts live beside it)', async () => {
    await guest.seed(META, CONFIG);
    await boot();
    expect((await stat(guest.path('/var/lib/lodge/provision'))).mode & 0o777).toBe(0o755);
    expect((await stat(guest.path('/var/lib/lodge/provision/state'))).mode & 0o777).toBe(0o755);
    expect((await stat(guest.path('/var/lib/lodge/provision/state/vm-1'))).mode & 0o777).toBe(0o700);
  });

  it('gives a user whose group exists already that group', async () => {
    await guest.write('/etc/group', 'root:x:0:\ndev:x:500:\n');
    await guest.seed(META, { ...CONFIG, users: [CONFIG.users[0] as LodgeCloudConfig['users'][number]] });
    await boot();
    expect(guest.commands()[0]).toBe('useradd -m -g dev -s /bin/bash dev');
  });
});
