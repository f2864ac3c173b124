// The seed's meta-data and user-data, parsed and checked strictly against what Lodge writes (first-boot.ts).

import { CLOUD_CONFIG_HEADER, type CloudFile, type CloudMetaData, type CloudUser, type LodgeCloudConfig } from '@lodge/api/guest';
import { array, boolean, fail, literal, object, ONE_LINE, SeedError, string } from './shape-check.js';

const NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
const NAME_HINT = 'a user or group name starts with a lowercase letter or "_", then up to 31 lowercase letters, digits, "_" or "-"';
const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
/** A folder name of its own under the state folder. */
const INSTANCE_ID = /^(?!\.\.?$)[A-Za-z0-9._-]{1,128}$/;
const PACKAGE = /^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?$/;
const MiB = 2 ** 20;

function json(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SeedError(`${what} is not JSON: ${(err as Error).message}`);
  }
}

export function parseMetaData(text: string): CloudMetaData {
  const m = object(json(text, 'meta-data'), 'meta-data', ['instance-id', 'local-hostname']);
  return {
    'instance-id': string(m['instance-id'], 'meta-data.instance-id', { pattern: INSTANCE_ID, hint: 'it must be 1-128 letters, digits, ".", "_" or "-"' }),
    'local-hostname': string(m['local-hostname'], 'meta-data.local-hostname', { pattern: HOSTNAME, hint: 'a hostname is 1-63 letters, digits or "-"' }),
  };
}

function user(value: unknown, path: string): CloudUser {
  const u = object(value, path, ['name', 'shell', 'lock_passwd', 'ssh_authorized_keys'], ['groups', 'sudo']);
  const name = string(u.name, `${path}.name`, { pattern: NAME, hint: NAME_HINT });
  if (name === 'root') fail(`${path}.name`, 'is root; the seed cannot make root');
  const out: CloudUser = {
    name,
    shell: string(u.shell, `${path}.shell`, { pattern: /^\/[^\n\r:]*$/, hint: 'a shell is an absolute path', max: 256 }),
    lock_passwd: literal(u.lock_passwd, `${path}.lock_passwd`, true),
    ssh_authorized_keys: array(u.ssh_authorized_keys, `${path}.ssh_authorized_keys`, 64, (k, p) => string(k, p, { pattern: ONE_LINE, hint: 'a key is one line', max: 16384 })),
  };
  if (u.groups !== undefined) {
    out.groups = string(u.groups, `${path}.groups`, { max: 33 * 32 });
    out.groups.split(',').forEach((g, i) => string(g, `${path}.groups[${i}]`, { pattern: NAME, hint: NAME_HINT }));
  }
  if (u.sudo !== undefined) out.sudo = string(u.sudo, `${path}.sudo`, { pattern: /^[^\n\r\\]+$/, hint: 'a sudo rule is one line', max: 1024 });
  return out;
}

function file(value: unknown, path: string): CloudFile {
  const f = object(value, path, ['path', 'content', 'permissions', 'owner'], ['encoding', 'defer']);
  const out: CloudFile = {
    path: string(f.path, `${path}.path`, { pattern: /^\/(?!.*(^|\/)\.\.(\/|$))(?!.*\/$).+$/, hint: 'a file path is absolute, with no ".." part and no trailing "/"' }),
    content: string(f.content, `${path}.content`, { max: 2 * MiB }),
    permissions: string(f.permissions, `${path}.permissions`, { pattern: /^0?[0-7]{3,4}$/, hint: 'permissions are octal, e.g. "0644"' }),
    owner: string(f.owner, `${path}.owner`, { pattern: /^[a-z_][a-z0-9_-]{0,31}(:[a-z_][a-z0-9_-]{0,31})?$/, hint: 'owner is "user" or "user:group"' }),
  };
  if (f.encoding !== undefined) out.encoding = literal(f.encoding, `${path}.encoding`, 'b64');
  if (out.encoding === 'b64' && !/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(out.content)) fail(`${path}.content`, 'is not base64');
  if (f.defer !== undefined) out.defer = boolean(f.defer, `${path}.defer`);
  return out;
}

/** user-data: the #cloud-config line, then one JSON object. */
export function parseUserData(text: string): LodgeCloudConfig {
  const newline = text.indexOf('\n');
  if (newline < 0 || text.slice(0, newline).trimEnd() !== CLOUD_CONFIG_HEADER) fail('user-data', `must start with the line ${CLOUD_CONFIG_HEADER}`);
  const c = object(json(text.slice(newline + 1), 'user-data'), 'user-data', ['hostname', 'manage_etc_hosts', 'users', 'ssh_pwauth', 'write_files'], ['package_update', 'packages', 'runcmd']);
  const config: LodgeCloudConfig = {
    hostname: string(c.hostname, 'user-data.hostname', { pattern: HOSTNAME, hint: 'a hostname is 1-63 letters, digits or "-", not starting or ending with "-"' }),
    manage_etc_hosts: literal(c.manage_etc_hosts, 'user-data.manage_etc_hosts', true),
    users: array(c.users, 'user-data.users', 33, user),
    ssh_pwauth: literal(c.ssh_pwauth, 'user-data.ssh_pwauth', false),
    write_files: array(c.write_files, 'user-data.write_files', 512, file),
  };
  const seen = new Set<string>();
  config.users.forEach((u, i) => {
    if (seen.has(u.name)) fail(`user-data.users[${i}].name`, `"${u.name}" is given twice`);
    seen.add(u.name);
  });
  if (c.package_update !== undefined) config.package_update = boolean(c.package_update, 'user-data.package_update');
  if (c.packages !== undefined) config.packages = array(c.packages, 'user-data.packages', 512, (p, path) => string(p, path, { pattern: PACKAGE, hint: 'a package is a Debian package name, optionally "=version"' }));
  if (c.runcmd !== undefined) {
    config.runcmd = array(c.runcmd, 'user-data.runcmd', 128, (entry, path) => {
      const argv = array(entry, path, 256, (a, p) => string(a, p, { max: 65536 }));
      if (argv.length === 0 || argv[0] === '') fail(path, 'must name a program (an argv list)');
      return argv;
    });
  }
  return config;
}
