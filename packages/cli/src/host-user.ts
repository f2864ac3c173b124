import { readdirSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { GUEST_USER_PATTERN, SshPublicKey } from '@lodge/api';

/** The guest's default user as `lodge create` makes it from the host user running the CLI. */
export interface HostUser {
  name: string;
  /** Home folder whose ~/.ssh/*.pub give the keys. */
  home: string;
}

export const FALLBACK_USER = 'lodge';

/** Lowercased; a name that still is not a valid guest user name (or is root) falls back to "lodge". */
const guestName = (login: string | undefined): string | undefined => {
  const name = login?.toLowerCase();
  return name !== undefined && name !== 'root' && GUEST_USER_PATTERN.test(name) ? name : undefined;
};

/** The home of a host user from /etc/passwd (for sudo: the invoking user's keys, not root's). */
function homeOf(user: string, passwd = '/etc/passwd'): string | undefined {
  try {
    const row = readFileSync(passwd, 'utf8').split('\n').find((l) => l.split(':')[0] === user);
    return row?.split(':')[5] || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The host user: its login name, and its home for the SSH keys. As root: $SUDO_USER (and that user's home) when
 * set, else "lodge" with root's $HOME.
 */
export function hostUser(env: NodeJS.ProcessEnv = process.env, info = userInfo(), home = homedir()): HostUser {
  if (info.uid !== 0) return { name: guestName(info.username) ?? FALLBACK_USER, home };
  const sudoUser = env.SUDO_USER && env.SUDO_USER !== 'root' ? env.SUDO_USER : undefined;
  if (!sudoUser) return { name: FALLBACK_USER, home };
  return { name: guestName(sudoUser) ?? FALLBACK_USER, home: homeOf(sudoUser) ?? home };
}

/** The public keys in <home>/.ssh/*.pub (sorted by file name); files that are not one valid key line are left out. */
export function scanSshKeys(home: string): { keys: string[]; files: string[] } {
  const dir = join(home, '.ssh');
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.pub')).sort();
  } catch {
    return { keys: [], files: [] };
  }
  const keys: string[] = [];
  const files: string[] = [];
  for (const name of names) {
    let text: string;
    try {
      text = readFileSync(join(dir, name), 'utf8').trim();
    } catch {
      continue;
    }
    if (!SshPublicKey.safeParse(text).success || keys.includes(text)) continue; // e.g. a certificate, or a copy
    keys.push(text);
    files.push(join(dir, name));
  }
  return { keys, files };
}
