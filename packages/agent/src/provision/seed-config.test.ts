import { describe, expect, it } from 'vitest';
import { parseMetaData, parseUserData } from './seed-config.js';

const user = { name: 'dev', shell: '/bin/bash', groups: 'docker,staff', sudo: 'ALL=(ALL) NOPASSWD:ALL', lock_passwd: true, ssh_authorized_keys: ['ssh-ed25519 AAAAC3Nz dev@host'] };
const config = {
  hostname: 'box', manage_etc_hosts: true, users: [user], ssh_pwauth: false,
  write_files: [{ path: '/etc/app.conf', content: 'aGk=', encoding: 'b64', permissions: '0640', owner: 'root:dev', defer: true }],
  package_update: true, packages: ['git', 'curl=7.88.1-10'], runcmd: [['/bin/sh', '-c', 'true']],
};
const userData = (c: unknown) => `#cloud-config\n${JSON.stringify(c)}`;
const error = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
};

describe('seed meta-data', () => {
  it('parses the instance id and hostname', () => {
    expect(parseMetaData('{"instance-id":"i-1.a_b","local-hostname":"box"}')).toEqual({ 'instance-id': 'i-1.a_b', 'local-hostname': 'box' });
  });

  it.each([
    ['not json', 'meta-data is not JSON'],
    ['[]', 'meta-data must be an object'],
    ['{"instance-id":"x","local-hostname":"h","extra":1}', 'meta-data has unknown keys: extra'],
    ['{"local-hostname":"h"}', 'meta-data lacks instance-id'],
    ['{"instance-id":"..","local-hostname":"h"}', 'meta-data.instance-id is ".."'],
    ['{"instance-id":"a/b","local-hostname":"h"}', 'meta-data.instance-id is "a/b"'],
    ['{"instance-id":"x","local-hostname":"-h"}', 'meta-data.local-hostname is "-h"'],
  ])('refuses %s', (text, message) => {
    expect(error(() => parseMetaData(text))).toContain(message);
  });
});

describe('seed user-data', () => {
  it('parses what Lodge writes', () => {
    expect(parseUserData(userData(config))).toEqual(config);
    expect(parseUserData(`#cloud-config\r\n${JSON.stringify({ ...config, runcmd: undefined })}`).runcmd).toBeUndefined();
  });

  it.each([
    ['no header', JSON.stringify(config), 'user-data must start with the line #cloud-config'],
    ['not JSON', '#cloud-config\nhostname: box\n', 'user-data is not JSON'],
    ['an unknown key', userData({ ...config, bootcmd: [] }), 'user-data has unknown keys: bootcmd'],
    ['a missing key', userData({ ...config, users: undefined }), 'user-data lacks users'],
    ['manage_etc_hosts false', userData({ ...config, manage_etc_hosts: false }), 'user-data.manage_etc_hosts must be true'],
    ['a bad user name', userData({ ...config, users: [{ ...user, name: 'Dev' }] }), 'user-data.users[0].name is "Dev"'],
    ['root', userData({ ...config, users: [{ ...user, name: 'root' }] }), 'user-data.users[0].name is root'],
    ['a user twice', userData({ ...config, users: [user, user] }), 'user-data.users[1].name "dev" is given twice'],
    ['an unknown user key', userData({ ...config, users: [{ ...user, passwd: 'x' }] }), 'user-data.users[0] has unknown keys: passwd'],
    ['a bad group', userData({ ...config, users: [{ ...user, groups: 'a,,b' }] }), 'user-data.users[0].groups[1] is ""'],
    ['a two-line key', userData({ ...config, users: [{ ...user, ssh_authorized_keys: ['a\nb'] }] }), 'ssh_authorized_keys[0] is'],
    ['a two-line sudo rule', userData({ ...config, users: [{ ...user, sudo: 'ALL\nroot ALL' }] }), 'user-data.users[0].sudo is'],
    ['a relative shell', userData({ ...config, users: [{ ...user, shell: 'bash' }] }), 'user-data.users[0].shell is "bash"'],
    ['a relative file', userData({ ...config, write_files: [{ ...config.write_files[0], path: 'etc/x' }] }), 'user-data.write_files[0].path is "etc/x"'],
    ['a ".." file', userData({ ...config, write_files: [{ ...config.write_files[0], path: '/etc/../x' }] }), 'user-data.write_files[0].path is'],
    ['a folder path', userData({ ...config, write_files: [{ ...config.write_files[0], path: '/etc/' }] }), 'user-data.write_files[0].path is'],
    ['bad permissions', userData({ ...config, write_files: [{ ...config.write_files[0], permissions: '0999' }] }), 'user-data.write_files[0].permissions is "0999"'],
    ['bad base64', userData({ ...config, write_files: [{ ...config.write_files[0], content: 'not base64!' }] }), 'user-data.write_files[0].content is not base64'],
    ['another encoding', userData({ ...config, write_files: [{ ...config.write_files[0], encoding: 'gzip' }] }), 'user-data.write_files[0].encoding must be "b64"'],
    ['a bad owner', userData({ ...config, write_files: [{ ...config.write_files[0], owner: 'a:b:c' }] }), 'user-data.write_files[0].owner is "a:b:c"'],
    ['a bad package', userData({ ...config, packages: ['git; rm'] }), 'user-data.packages[0] is "git; rm"'],
    ['a string runcmd', userData({ ...config, runcmd: ['echo hi'] }), 'user-data.runcmd[0] must be an array'],
    ['an empty runcmd entry', userData({ ...config, runcmd: [[]] }), 'user-data.runcmd[0] must name a program'],
    ['a number in runcmd', userData({ ...config, runcmd: [['echo', 1]] }), 'user-data.runcmd[0][1] must be a string'],
  ])('refuses %s', (_what, text, message) => {
    expect(error(() => parseUserData(text))).toContain(message);
  });
});
