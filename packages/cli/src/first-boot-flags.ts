import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { PROVISION_NAME_PATTERN, VmCreateRequest } from '@lodge/api';
import type { FirstBootFlags } from './first-boot-options.js';
import { UsageError } from './flag-values.js';
import { scanSshKeys, type HostUser } from './host-user.js';

type FirstBootRequest = Pick<VmCreateRequest, 'hostname' | 'user' | 'packages' | 'provision'>;

function readFlagFile(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag} "${file}": ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

/** A script's name from its file: "10-Setup.sh" → "10-setup"; what does not fit the name pattern becomes "-". */
export function scriptNameFromFile(file: string, n: number): string {
  const name = basename(file).replace(/\.[^.]*$/, '').toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 63);
  return PROVISION_NAME_PATTERN.test(name) ? name : `script-${n}`;
}

/** Keys of --ssh-key files (each non-empty, non-comment line), else the host user's ~/.ssh/*.pub. */
function userKeys(flags: FirstBootFlags, host: HostUser | undefined): string[] {
  if (flags.sshKey === undefined) return host ? scanSshKeys(host.home).keys : [];
  return flags.sshKey.flatMap((file) => readFlagFile('--ssh-key', file).split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')));
}

/** Which flag and value an issue is about, for the usage error. */
function flagOf(fields: FirstBootRequest, flags: FirstBootFlags, path: PropertyKey[]): [string, string] {
  const [key, i, sub] = path;
  const at = typeof i === 'number' ? i : 0;
  if (key === 'hostname') return ['--hostname', String(fields.hostname)];
  if (key === 'user' && i === 'sshKeys' && fields.user) return [flags.sshKey ? '--ssh-key' : 'the key in ~/.ssh', String(fields.user.sshKeys?.[Number(sub)] ?? '').slice(0, 60)];
  if (key === 'user') return ['--user', fields.user ? fields.user.name : ''];
  if (key === 'packages') return ['--package', String(flags.package?.[at])];
  if (key === 'provision') return ['--provision', String(flags.provision?.[at])];
  return [String(key), ''];
}

/** The first-boot part of a create request; `host` fills the default user (name and keys) unless --user / --no-user say otherwise. */
export function firstBootFields(flags: FirstBootFlags, host?: HostUser): Partial<FirstBootRequest> {
  const fields: Partial<FirstBootRequest> = {};
  if (flags.hostname !== undefined) fields.hostname = flags.hostname;
  if (flags.user === false) {
    if (flags.sshKey !== undefined) throw new UsageError('--ssh-key needs a default user: leave out --no-user');
    fields.user = false;
  } else {
    const name = flags.user ?? host?.name;
    if (name !== undefined) fields.user = { name, sshKeys: userKeys(flags, host) };
  }
  if (flags.package) fields.packages = flags.package;
  if (flags.provision) fields.provision = flags.provision.map((file, i) => ({ name: scriptNameFromFile(file, i + 1), script: readFlagFile('--provision', file) }));
  const checked = VmCreateRequest.safeParse({ name: 'first-boot-check', ...fields }); // the same checks the daemon makes
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const [flag, value] = flagOf(fields as FirstBootRequest, flags, issue?.path ?? []);
    throw new UsageError(`${flag} "${value}" is not valid: ${issue?.message ?? 'rejected'}`, 'see: lodge create --help');
  }
  return fields;
}
