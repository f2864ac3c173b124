import { describe, expect, it } from 'vitest';
import { specFromCreate, VmCreateRequest } from '@lodge/api';
import { seedOf } from './cloud-config.js';

const spec = (extra: Record<string, unknown>) => specFromCreate(VmCreateRequest.parse({ name: 'dev', image: 'debian-12', ...extra }));

describe('seedOf', () => {
  it('gives a VM without settings its name as hostname and no users', () => {
    const seed = seedOf(spec({}));
    expect(seed.metaData).toEqual({ 'instance-id': 'iid-lodge-dev', 'local-hostname': 'dev' });
    expect(seed.userData).toEqual({ hostname: 'dev', manage_etc_hosts: true, ssh_pwauth: false, users: [], write_files: [] });
  });

  it('makes the default user a passwordless sudoer with its keys, extra users as asked', () => {
    const { userData } = seedOf(spec({
      hostname: 'box', user: { name: 'al', sshKeys: ['ssh-ed25519 AAAA al@host'] },
      users: [{ name: 'bo', sudo: true, groups: ['adm', 'video'] }, { name: 'cy' }],
    }));
    expect(userData.hostname).toBe('box');
    expect(userData.users).toEqual([
      { name: 'al', shell: '/bin/bash', sudo: 'ALL=(ALL) NOPASSWD:ALL', lock_passwd: true, ssh_authorized_keys: ['ssh-ed25519 AAAA al@host'] },
      { name: 'bo', shell: '/bin/bash', lock_passwd: true, ssh_authorized_keys: [], groups: 'adm,video', sudo: 'ALL=(ALL) NOPASSWD:ALL' },
      { name: 'cy', shell: '/bin/bash', lock_passwd: true, ssh_authorized_keys: [] },
    ]);
  });

  it('writes files (deferred when a created user owns them) and asks for packages with an update', () => {
    const { userData } = seedOf(spec({
      user: { name: 'al' }, packages: ['git', 'jq=1.6-2.1'],
      files: [{ path: '/etc/a', content: 'x' }, { path: '/home/al/b', content: 'eQ==', encoding: 'base64', mode: '600', owner: 'al' }],
    }));
    expect(userData.write_files).toEqual([
      { path: '/etc/a', content: 'x', permissions: '0644', owner: 'root:root' },
      { path: '/home/al/b', content: 'eQ==', encoding: 'b64', permissions: '0600', owner: 'al:al', defer: true },
    ]);
    expect(userData).toMatchObject({ package_update: true, packages: ['git', 'jq=1.6-2.1'] });
  });

  it('runs once scripts from runcmd and boot scripts from per-boot wrappers, each under its time limit', () => {
    const { userData } = seedOf(spec({
      user: { name: 'al' },
      provision: [
        { name: 'setup', script: '#!/bin/bash\necho hi', timeout: '5m' },
        { mode: 'user', run: 'boot', script: 'echo every boot' },
      ],
    }));
    expect(userData.runcmd).toEqual([['timeout', '-k', '10s', '300s', '/var/lib/lodge/provision/scripts/01-setup']]);
    expect(userData.write_files).toEqual([
      { path: '/var/lib/lodge/provision/scripts/01-setup', content: '#!/bin/bash\necho hi', permissions: '0755', owner: 'root:root' },
      { path: '/var/lib/lodge/provision/scripts/02-script-2', content: 'echo every boot', permissions: '0755', owner: 'root:root' },
      {
        path: '/var/lib/cloud/scripts/per-boot/02-script-2',
        content: "#!/bin/sh\nexec 'timeout' '-k' '10s' '600s' 'runuser' '-u' 'al' '--' '/bin/sh' '-c' 'cd && exec /bin/sh /var/lib/lodge/provision/scripts/02-script-2'\n",
        permissions: '0755', owner: 'root:root',
      },
    ]);
  });
});
