import type { VmSpec } from '@lodge/api';
import {
  PASSWORDLESS_SUDO, PER_BOOT_SCRIPTS_DIR, PROVISION_SCRIPTS_DIR, scriptFileName,
  type CloudFile, type CloudMetaData, type CloudUser, type LodgeCloudConfig,
} from '@lodge/api/guest';

/** What goes on a VM's NoCloud seed: meta-data and user-data, as objects. */
export interface SeedContent {
  metaData: CloudMetaData;
  userData: LodgeCloudConfig;
}

type FirstBoot = Pick<VmSpec, 'name' | 'hostname' | 'user' | 'users' | 'packages' | 'files' | 'provision'>;
type Script = VmSpec['provision'][number];

/** Stable across a VM's boots (so "once" holds); a clone under another name is a new instance. */
export const instanceIdOf = (vm: string): string => `iid-lodge-${vm}`;

/** SIGTERM at the time limit, SIGKILL 10 s later (exit 124 or 137: the provisioner reports a time-out). */
const KILL_AFTER = '10s';

/** argv of a script: run as its file when it has a "#!" line, else with /bin/sh; as the default user in user mode. */
function scriptArgv(script: Script, path: string, user: string | undefined): string[] {
  const run = script.script.startsWith('#!') ? [path] : ['/bin/sh', path];
  // Not `runuser -l`: its PAM stack starts the user's systemd manager, ~20 s under TCG; `cd` goes to the user's HOME.
  const as = script.mode === 'user' && user !== undefined ? ['runuser', '-u', user, '--', '/bin/sh', '-c', `cd && exec ${run.join(' ')}`] : run;
  return ['timeout', '-k', KILL_AFTER, `${script.timeout}s`, ...as];
}

function defaultUser(user: Exclude<FirstBoot['user'], false | undefined>): CloudUser {
  return { name: user.name, shell: '/bin/bash', sudo: PASSWORDLESS_SUDO, lock_passwd: true, ssh_authorized_keys: user.sshKeys };
}

function extraUser(u: VmSpec['users'][number]): CloudUser {
  return {
    name: u.name, shell: u.shell, lock_passwd: true, ssh_authorized_keys: u.sshKeys,
    ...(u.groups.length > 0 ? { groups: u.groups.join(',') } : {}),
    ...(u.sudo ? { sudo: PASSWORDLESS_SUDO } : {}),
  };
}

/** Single-quoted for the wrapper's sh. */
const quote = (a: string): string => `'${a.replace(/'/g, `'\\''`)}'`;

const octal = (mode: string): string => mode.padStart(4, '0');

function userFile(f: VmSpec['files'][number]): CloudFile {
  const owner = f.owner.includes(':') ? f.owner : `${f.owner}:${f.owner}`;
  return {
    path: f.path, content: f.content, permissions: octal(f.mode), owner,
    ...(f.encoding === 'base64' ? { encoding: 'b64' as const } : {}),
    // Files owned by a user the seed creates are written after users exist.
    ...(owner.startsWith('root:') ? {} : { defer: true }),
  };
}

/** The seed of a VM: hostname, users, files and packages; scripts as files run by runcmd (once) or per-boot wrappers. */
export function seedOf(spec: FirstBoot): SeedContent {
  const hostname = spec.hostname ?? spec.name;
  const user = spec.user === false || spec.user === undefined ? undefined : spec.user;
  const files: CloudFile[] = spec.files.map(userFile);
  const runcmd: string[][] = [];
  spec.provision.forEach((p, i) => {
    const base = scriptFileName(i, p.name);
    const path = `${PROVISION_SCRIPTS_DIR}/${base}`;
    files.push({ path, content: p.script, permissions: '0755', owner: 'root:root' });
    const argv = scriptArgv(p, path, user?.name);
    if (p.run === 'once') runcmd.push(argv);
    else files.push({ path: `${PER_BOOT_SCRIPTS_DIR}/${base}`, content: `#!/bin/sh\nexec ${argv.map(quote).join(' ')}\n`, permissions: '0755', owner: 'root:root' });
  });
  const userData: LodgeCloudConfig = {
    hostname, manage_etc_hosts: true, ssh_pwauth: false,
    users: [...(user ? [defaultUser(user)] : []), ...spec.users.map(extraUser)],
    write_files: files,
    ...(spec.packages.length > 0 ? { package_update: true, packages: spec.packages } : {}),
    ...(runcmd.length > 0 ? { runcmd } : {}),
  };
  return { metaData: { 'instance-id': instanceIdOf(spec.name), 'local-hostname': hostname }, userData };
}
