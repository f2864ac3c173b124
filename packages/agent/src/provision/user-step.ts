// Users (once per instance): groups made if missing, useradd -m, password locked, SSH keys, a sudo rule.

import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CloudUser } from '@lodge/api/guest';
import { groupNames, ownerIds, userNames } from './accounts.js';
import { at, runChecked } from './guest-system.js';
import { once, tracked, type StepContext } from './step-run.js';

/** Where a user's sudo rule goes; sudo reads /etc/sudoers.d files whose names have no "." and no "~". */
export const sudoersFile = (user: string) => `/etc/sudoers.d/90-lodge-${user}`;

async function ensureGroups(ctx: StepContext, groups: string[]): Promise<void> {
  const known = await groupNames(ctx.system);
  for (const g of groups) if (!known.has(g)) await runChecked(ctx.system, ['groupadd', g]);
}

/** authorized_keys keeps the lines it has and gains the missing keys (a retried step adds none twice). */
async function writeKeys(ctx: StepContext, user: CloudUser): Promise<void> {
  if (user.ssh_authorized_keys.length === 0) return;
  const { uid, gid, home } = ownerIds(ctx.system, user.name);
  const sshDir = at(ctx.system, join(home, '.ssh'));
  await mkdir(sshDir, { recursive: true, mode: 0o700 });
  await ctx.system.chown(sshDir, uid, gid);
  const file = join(sshDir, 'authorized_keys');
  const lines = (await readFile(file, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
  for (const key of user.ssh_authorized_keys) if (!lines.includes(key)) lines.push(key);
  await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  await ctx.system.chown(file, uid, gid);
}

/** The rule is checked with visudo before it is put in place: a broken sudoers file locks sudo out. */
async function writeSudoRule(ctx: StepContext, user: string, rule: string): Promise<void> {
  const target = at(ctx.system, sudoersFile(user));
  const tmp = at(ctx.system, `/etc/sudoers.d/.lodge-${user}.tmp`);
  await mkdir(at(ctx.system, '/etc/sudoers.d'), { recursive: true, mode: 0o755 });
  await writeFile(tmp, `${user} ${rule}\n`, { mode: 0o440 });
  try {
    await chmod(tmp, 0o440);
    await runChecked(ctx.system, ['visudo', '-cf', tmp]);
    await rename(tmp, target);
  } finally {
    await rm(tmp, { force: true });
  }
}

async function addUser(ctx: StepContext, user: CloudUser): Promise<void> {
  const groups = user.groups ? user.groups.split(',') : [];
  await ensureGroups(ctx, groups);
  const group = groups.length > 0 ? ['-G', groups.join(',')] : [];
  if ((await userNames(ctx.system)).has(user.name)) {
    await runChecked(ctx.system, ['usermod', '-s', user.shell, ...(groups.length > 0 ? ['-a', ...group] : []), '-L', user.name]);
  } else {
    // useradd leaves the password locked ("!" in /etc/shadow); the user's own group is made unless it exists.
    const own = (await groupNames(ctx.system)).has(user.name) ? ['-g', user.name] : ['-U'];
    await runChecked(ctx.system, ['useradd', '-m', ...own, '-s', user.shell, ...group, user.name]);
  }
  await writeKeys(ctx, user);
  if (user.sudo !== undefined) await writeSudoRule(ctx, user.name, user.sudo);
}

export async function addUsers(ctx: StepContext): Promise<void> {
  if (ctx.config.users.length === 0) return;
  await once(ctx, 'users', 'users', async () => {
    for (const user of ctx.config.users) await tracked(ctx, 'users', user.name, () => addUser(ctx, user));
  });
}
