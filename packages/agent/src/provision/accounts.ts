// The guest's users and groups as the provisioner needs them (user-db.ts, read under the system's root).

import { readFile } from 'node:fs/promises';
import { lookupUser, type GuestUser, type UserDbPaths } from '../user-db.js';
import { at, type GuestSystem } from './guest-system.js';

export function accountFiles(system: Pick<GuestSystem, 'root'>): Required<UserDbPaths> {
  return { passwd: at(system, '/etc/passwd'), group: at(system, '/etc/group') };
}

async function names(path: string): Promise<Set<string>> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return new Set(text.split('\n').map((l) => l.split(':')[0] ?? '').filter((n) => n !== ''));
}

export const userNames = (system: Pick<GuestSystem, 'root'>) => names(accountFiles(system).passwd);
export const groupNames = (system: Pick<GuestSystem, 'root'>) => names(accountFiles(system).group);

/** "user" or "user:group" to ids; an unknown name throws with the name. */
export function ownerIds(system: Pick<GuestSystem, 'root'>, owner: string): GuestUser {
  return lookupUser(owner, accountFiles(system));
}
