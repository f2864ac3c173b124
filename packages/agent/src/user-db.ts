// Users and groups from /etc/passwd and /etc/group (no NSS in Node), parsed again only when a file changed.

import { readFileSync, statSync } from 'node:fs';
import { OpError } from './op-error.js';

export interface GuestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface UserDbPaths {
  passwd?: string;
  group?: string;
}

/** Parsed files by path, with what identifies the version parsed (a stat is cheaper than reading and splitting under TCG). */
const parsed = new Map<string, { version: string; rows: string[][] }>();

function readLines(path: string): string[][] {
  try {
    const st = statSync(path, { bigint: true });
    // Editors and useradd replace the file (new inode) or rewrite it (new mtime and ctime, in nanoseconds).
    const version = `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    const known = parsed.get(path);
    if (known?.version === version) return known.rows;
    const rows = readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => line.split(':'));
    parsed.set(path, { version, rows });
    return rows;
  } catch {
    parsed.delete(path);
    return [];
  }
}

function toUser(fields: string[]): GuestUser {
  return {
    name: fields[0] ?? '',
    uid: Number(fields[2]),
    gid: Number(fields[3]),
    home: fields[5] || '/',
    shell: fields[6] || '/bin/sh',
  };
}

/**
 * Resolves a user by name or numeric id ("1000", "alice", "alice:staff", "1000:1000").
 * Supplementary groups: supplementaryGroups (lodge-spawn sets them; Node's spawn cannot).
 */
export function lookupUser(spec: string, paths: UserDbPaths = {}): GuestUser {
  const [userPart = '', groupPart] = spec.split(':', 2);
  const passwd = readLines(paths.passwd ?? '/etc/passwd');
  const numeric = /^\d+$/.test(userPart);
  const row = passwd.find((f) => (numeric ? f[2] === userPart : f[0] === userPart));
  let user: GuestUser;
  if (row) user = toUser(row);
  else if (numeric) user = { name: userPart, uid: Number(userPart), gid: Number(userPart), home: '/', shell: '/bin/sh' };
  else throw new OpError('not_found', `user ${userPart}: not found in /etc/passwd of the guest`);
  if (groupPart !== undefined) user = { ...user, gid: lookupGroup(groupPart, paths) };
  return user;
}

/** A group id by name or number. */
export function lookupGroup(spec: string, paths: UserDbPaths = {}): number {
  if (/^\d+$/.test(spec)) return Number(spec);
  const row = readLines(paths.group ?? '/etc/group').find((f) => f[0] === spec);
  if (!row) throw new OpError('not_found', `group ${spec}: not found in /etc/group of the guest`);
  return Number(row[2]);
}

/** The primary gid then every group of /etc/group listing the user as a member, as initgroups(3) finds them. */
export function supplementaryGroups(user: GuestUser, paths: UserDbPaths = {}): number[] {
  const gids = new Set([user.gid]);
  for (const row of readLines(paths.group ?? '/etc/group')) {
    if ((row[3] ?? '').split(',').includes(user.name) && /^\d+$/.test(row[2] ?? '')) gids.add(Number(row[2]));
  }
  return [...gids];
}

/** The agent's own user (root in the guest), for HOME/USER when the request names none. */
export function currentUser(paths: UserDbPaths = {}): GuestUser {
  const uid = process.getuid?.() ?? 0;
  const row = readLines(paths.passwd ?? '/etc/passwd').find((f) => f[2] === String(uid));
  return row ? toUser(row) : { name: uid === 0 ? 'root' : String(uid), uid, gid: process.getgid?.() ?? uid, home: uid === 0 ? '/root' : '/', shell: '/bin/sh' };
}
