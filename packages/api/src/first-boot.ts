import { z } from 'zod';
import { parseDuration } from './duration.js';

// What a VM's first boot sets up (cloud-init NoCloud seed): hostname, users, files, packages and provision scripts.

const KiB = 1024;
const MiB = 2 ** 20;

export const GUEST_USER_PATTERN = /^[a-z_][a-z0-9_-]{0,31}$/;
const userMessage = 'a user or group name starts with a lowercase letter or "_", then up to 31 lowercase letters, digits, "_" or "-"';
export const GuestUserName = z.string().regex(GUEST_USER_PATTERN, userMessage);

/** One line of an authorized_keys file: type, base64 key, optional comment. */
export const SshPublicKey = z
  .string()
  .max(16 * KiB, 'an SSH public key is at most 16 KiB')
  .regex(
    /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n\r]*)?$/,
    'an SSH public key is one line like "ssh-ed25519 AAAA… you@host" (the contents of a .pub file)',
  );

/** Hostname: one DNS label (RFC 1123). */
export const GuestHostname = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i, 'a hostname is 1-63 letters, digits or "-", not starting or ending with "-"');

/** The default user: passwordless sudo, the host user's SSH keys; the CLI fills both from the host user. */
export const DefaultUserSpec = z
  .object({
    name: GuestUserName.refine((n) => n !== 'root', 'the default user cannot be root (give another name)'),
    sshKeys: z.array(SshPublicKey).max(64).default([]),
  })
  .strict();

export const GuestUserSpec = z
  .object({
    name: GuestUserName.refine((n) => n !== 'root', 'root exists already; give another user name'),
    sshKeys: z.array(SshPublicKey).max(64).default([]),
    /** Passwordless sudo. */
    sudo: z.boolean().default(false),
    shell: z.string().startsWith('/', 'shell must be an absolute path').max(256).default('/bin/bash'),
    groups: z.array(GuestUserName).max(32).default([]),
  })
  .strict();

const guestPath = z
  .string()
  .startsWith('/', 'a guest path must be absolute')
  .max(4096)
  .refine((p) => !p.split('/').includes('..') && !p.includes('\0') && !p.endsWith('/'), 'a guest file path has no ".." part and names a file (no trailing "/")');

export const GuestFileSpec = z
  .object({
    path: guestPath,
    content: z.string().max(MiB, 'a file is at most 1 MiB'),
    /** base64: content is the file's bytes in base64 (for binary files). */
    encoding: z.enum(['text', 'base64']).default('text'),
    mode: z.string().regex(/^0?[0-7]{3,4}$/, 'mode is octal, e.g. "0644" or "755"').default('0644'),
    owner: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}(:[a-z_][a-z0-9_-]{0,31})?$/, 'owner is "user" or "user:group"')
      .default('root:root'),
  })
  .strict();

/** Seconds, from "90", "90s", "10m", "2h"; at most a day. */
const scriptTimeout = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const s = parseDuration(v);
  if (typeof s === 'string' || s < 1 || s > 86_400) {
    ctx.addIssue({ code: 'custom', message: typeof s === 'string' ? `timeout: ${s}` : 'timeout must be between 1s and 24h' });
    return z.NEVER;
  }
  return Math.ceil(s);
});

export const PROVISION_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const DEFAULT_SCRIPT_TIMEOUT_S = 600;

/** A provision script (Lima's `provision:` with mode system|user): run once per VM, or at every boot. */
export const ProvisionScriptSpec = z
  .object({
    /** Shown in progress and errors; default "script-<n>" (1-based). */
    name: z.string().regex(PROVISION_NAME_PATTERN, 'a script name is lowercase letters, digits, ".", "_" or "-"').optional(),
    /** system: as root; user: as the default user (needs one). */
    mode: z.enum(['system', 'user']).default('system'),
    /** once: at the first boot that gets it done (a failed run is retried at the next start); boot: every boot. */
    run: z.enum(['once', 'boot']).default('once'),
    /** Run as an executable file: a "#!" line picks the interpreter, else /bin/sh. */
    script: z.string().min(1, 'script is empty').max(256 * KiB, 'a script is at most 256 KiB'),
    /** Killed (and the start failed) after this long. */
    timeout: scriptTimeout.default(DEFAULT_SCRIPT_TIMEOUT_S),
  })
  .strict();

const packageName = z.string().regex(/^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?$/, 'a package is a Debian package name, optionally "=version"');

/** First-boot fields of a create request (and of a template); all optional. */
export const FirstBootFields = {
  /** Default: the VM's name. */
  hostname: GuestHostname.optional(),
  /** The default user (sudo without password); `false` for none. The CLI fills it from the host user. */
  user: z.union([DefaultUserSpec, z.literal(false)]).optional(),
  users: z.array(GuestUserSpec).max(32, 'at most 32 users').default([]),
  packages: z.array(packageName).max(512, 'at most 512 packages').default([]),
  files: z.array(GuestFileSpec).max(256, 'at most 256 files').default([]),
  provision: z.array(ProvisionScriptSpec).max(64, 'at most 64 provision scripts').default([]),
};

/** The first-boot part of a stored spec (script names filled in). */
export interface FirstBootSpec {
  hostname?: string;
  user?: z.output<typeof DefaultUserSpec> | false;
  users: z.output<typeof GuestUserSpec>[];
  packages: string[];
  files: z.output<typeof GuestFileSpec>[];
  provision: (z.output<typeof ProvisionScriptSpec> & { name: string })[];
}

/** True when the spec asks the guest for more than the defaults (hostname, default user). */
export const asksForProvisioning = (s: Pick<FirstBootSpec, 'users' | 'packages' | 'files' | 'provision'>): boolean =>
  s.users.length + s.packages.length + s.files.length + s.provision.length > 0;

/** Checks across fields: unique user and script names, user scripts need a default user. */
export function checkFirstBoot(s: z.output<z.ZodObject<typeof FirstBootFields>>, ctx: z.RefinementCtx): void {
  const names = new Set<string>();
  s.users.forEach((u, i) => {
    if (names.has(u.name) || (s.user && s.user.name === u.name)) ctx.addIssue({ code: 'custom', path: ['users', i, 'name'], message: `user "${u.name}" is given twice` });
    names.add(u.name);
  });
  const scripts = new Set<string>();
  s.provision.forEach((p, i) => {
    const name = p.name ?? `script-${i + 1}`;
    if (scripts.has(name)) ctx.addIssue({ code: 'custom', path: ['provision', i, 'name'], message: `provision script "${name}" is given twice` });
    scripts.add(name);
    if (p.mode === 'user' && !s.user) ctx.addIssue({ code: 'custom', path: ['provision', i, 'mode'], message: 'a "user" script runs as the default user, and this VM has none (give user, or use mode: system)' });
  });
  const seed = s.files.reduce((n, f) => n + f.content.length, 0) + s.provision.reduce((n, p) => n + p.script.length, 0);
  if (seed > 4 * MiB) ctx.addIssue({ code: 'custom', path: ['files'], message: `files and scripts come to ${(seed / MiB).toFixed(1)} MiB; the seed disk takes at most 4 MiB (copy big files with lodge cp)` });
}

/** The stored first-boot spec: script names filled in. */
export function firstBootOf(s: z.output<z.ZodObject<typeof FirstBootFields>>): FirstBootSpec {
  return { ...s, provision: s.provision.map((p, i) => ({ ...p, name: p.name ?? `script-${i + 1}` })) };
}
