import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRequestFrom } from './create-request.js';
import { scriptNameFromFile } from './first-boot-flags.js';
import { usageFailure } from './usage-failure.js';
import { hostUser, scanSshKeys } from './host-user.js';

const ED = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly0123456789abcdefghijk alice@host';
const RSA = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQFakeRsa bob@host';

/** Temporary folders of these tests, removed at the end. */
const made: string[] = [];
const tempDir = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
};
afterAll(() => made.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function homeWithKeys(files: Record<string, string>): string {
  const home = tempDir('lodge-home-');
  mkdirSync(join(home, '.ssh'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(home, '.ssh', name), text);
  return home;
}

const usage = usageFailure;

describe('scanSshKeys', () => {
  it('takes every valid *.pub in ~/.ssh, sorted, leaving out private keys, certificates and copies', () => {
    const home = homeWithKeys({
      'id_rsa.pub': `${RSA}\n`, 'id_ed25519.pub': `${ED}\n`, id_ed25519: 'PRIVATE', 'copy.pub': ED,
      'id_ed25519-cert.pub': 'ssh-ed25519-cert-v01@openssh.com AAAA cert', 'junk.pub': 'hello',
    });
    const found = scanSshKeys(home);
    expect(found.keys).toEqual([ED, RSA]);
    expect(found.files.map((f) => f.split('/').at(-1))).toEqual(['copy.pub', 'id_rsa.pub']);
  });

  it('finds nothing without ~/.ssh', () => {
    expect(scanSshKeys(tempDir('lodge-home-'))).toEqual({ keys: [], files: [] });
  });
});

describe('hostUser', () => {
  const info = (username: string, uid: number) => ({ username, uid, gid: uid, shell: '/bin/bash', homedir: '/h' });
  it('is the login name for a normal user, lowercased; "lodge" when it cannot be a guest user name', () => {
    expect(hostUser({}, info('alice', 1000), '/home/alice')).toEqual({ name: 'alice', home: '/home/alice' });
    expect(hostUser({}, info('Alice', 1000), '/h').name).toBe('alice');
    expect(hostUser({}, info('john.doe', 1000), '/h').name).toBe('lodge');
  });
  it('as root: $SUDO_USER when set, else "lodge"', () => {
    expect(hostUser({}, info('root', 0), '/root')).toEqual({ name: 'lodge', home: '/root' });
    expect(hostUser({ SUDO_USER: 'root' }, info('root', 0), '/root').name).toBe('lodge');
    expect(hostUser({ SUDO_USER: 'carol-no-such-user' }, info('root', 0), '/root')).toEqual({ name: 'carol-no-such-user', home: '/root' });
  });
});

describe('lodge create first-boot flags', () => {
  const home = homeWithKeys({ 'id_ed25519.pub': ED });
  const host = { name: 'alice', home };

  it('fills the default user from the host user and its ~/.ssh keys', () => {
    expect(createRequestFrom('web', {}, { host })).toEqual({ name: 'web', user: { name: 'alice', sshKeys: [ED] } });
    expect(createRequestFrom('web', {})).toEqual({ name: 'web' }); // without a host user, the daemon's default
  });

  it('maps --hostname, --user, --ssh-key, --package and --provision', () => {
    const dir = tempDir('lodge-flags-');
    writeFileSync(join(dir, 'keys'), `# mine\n${RSA}\n\n${ED}\n`);
    writeFileSync(join(dir, '10-Setup.sh'), '#!/bin/sh\necho hi\n');
    const req = createRequestFrom('web', { hostname: 'box', user: 'dev', sshKey: [join(dir, 'keys')], package: ['curl', 'jq=1.6-2'], provision: [join(dir, '10-Setup.sh')] }, { host });
    expect(req).toEqual({
      name: 'web', hostname: 'box', user: { name: 'dev', sshKeys: [RSA, ED] }, packages: ['curl', 'jq=1.6-2'],
      provision: [{ name: '10-setup', script: '#!/bin/sh\necho hi\n' }],
    });
  });

  it('--no-user sends user: false, and refuses --ssh-key with it', () => {
    expect(createRequestFrom('web', { user: false }, { host })).toEqual({ name: 'web', user: false });
    expect(usage(() => createRequestFrom('web', { user: false, sshKey: ['/x'] }, { host })).message).toMatch(/--ssh-key needs a default user/);
  });

  it('names the flag and value of bad input', () => {
    expect(usage(() => createRequestFrom('web', { hostname: '-bad-' }, { host })).message).toMatch(/^--hostname "-bad-" is not valid: a hostname is/);
    expect(usage(() => createRequestFrom('web', { user: 'root' }, { host })).message).toMatch(/^--user "root" is not valid/);
    expect(usage(() => createRequestFrom('web', { package: ['ok', 'Bad Pkg'] }, { host })).message).toMatch(/^--package "Bad Pkg" is not valid/);
    expect(usage(() => createRequestFrom('web', { provision: ['/no/such/file.sh'] }, { host })).message).toBe('--provision "/no/such/file.sh": no such file');
    const dir = tempDir('lodge-flags-');
    writeFileSync(join(dir, 'a.sh'), 'true');
    mkdirSync(join(dir, 'b'));
    writeFileSync(join(dir, 'b', 'a.sh'), 'true');
    expect(usage(() => createRequestFrom('web', { provision: [join(dir, 'a.sh'), join(dir, 'b', 'a.sh')] }, { host })).message).toMatch(/--provision ".*b\/a.sh" is not valid: provision script "a" is given twice/);
    writeFileSync(join(dir, 'bad.pub'), 'not a key');
    expect(usage(() => createRequestFrom('web', { sshKey: [join(dir, 'bad.pub')] }, { host })).message).toMatch(/^--ssh-key "not a key" is not valid: an SSH public key is one line/);
  });

  it('names scripts after their files', () => {
    expect(scriptNameFromFile('/x/setup.sh', 1)).toBe('setup');
    expect(scriptNameFromFile('/x/My Script.bash', 1)).toBe('my-script');
    expect(scriptNameFromFile('/x/.hidden', 3)).toBe('script-3');
  });
});
