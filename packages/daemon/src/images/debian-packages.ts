import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { LodgeError } from '@lodge/api';
import { runCommand } from './host-command.js';

/** A Debian package pinned to the version apt would install now. */
export interface ResolvedPackage {
  name: string;
  version: string;
}

const APT_HINT = 'run apt-get update on the host (the host needs to reach a Debian mirror), then build again';

function unavailable(name: string, cause?: unknown): LodgeError {
  return new LodgeError('image_unavailable', `Debian package "${name}" is not available from apt`, { hint: APT_HINT, cause });
}

/** Resolves a package to apt's candidate version; a name apt does not know is `image_unavailable`. */
export async function resolvePackage(name: string, signal?: AbortSignal): Promise<ResolvedPackage> {
  const out = await runCommand('apt-cache', ['policy', name], { signal }).catch((err: unknown) => {
    throw signal?.aborted ? err : unavailable(name, err);
  });
  const version = /^\s*Candidate:\s*(\S+)/m.exec(out)?.[1];
  if (!version || version === '(none)') throw unavailable(name);
  return { name, version };
}

/** Follows a metapackage (e.g. linux-image-cloud-amd64) to the versioned package it depends on. */
export async function resolveMetapackage(meta: string, target: RegExp, signal?: AbortSignal): Promise<ResolvedPackage> {
  const out = await runCommand('apt-cache', ['depends', '--important', meta], { signal }).catch((err: unknown) => {
    throw signal?.aborted ? err : unavailable(meta, err);
  });
  const dep = [...out.matchAll(/^\s*(?:\|)?Depends:\s*(\S+)/gm)].map((m) => m[1] ?? '').find((n) => target.test(n));
  if (!dep) throw unavailable(meta, new Error(`no dependency of ${meta} matches ${target}`));
  return resolvePackage(dep, signal);
}

/** apt-get download's file name prefix for a version (the epoch colon is written %3a). */
export function debFilePrefix(pkg: ResolvedPackage): string {
  return `${pkg.name}_${pkg.version.replaceAll(':', '%3a')}_`;
}

async function findCached(cacheDir: string, pkg: ResolvedPackage): Promise<string | undefined> {
  const prefix = debFilePrefix(pkg);
  const names = await readdir(cacheDir).catch(() => [] as string[]);
  const hit = names.find((n) => n.startsWith(prefix) && n.endsWith('.deb'));
  return hit === undefined ? undefined : join(cacheDir, hit);
}

/** Returns the .deb of each package from cacheDir, downloading the missing ones with apt-get (never a fixed mirror). */
export async function fetchDebs(pkgs: ResolvedPackage[], cacheDir: string, signal?: AbortSignal): Promise<string[]> {
  await mkdir(cacheDir, { recursive: true });
  const missing: ResolvedPackage[] = [];
  for (const pkg of pkgs) if (!(await findCached(cacheDir, pkg))) missing.push(pkg);
  if (missing.length > 0) {
    // Download into a private folder so the cache never holds a partial .deb.
    const dl = join(cacheDir, `.download-${randomBytes(4).toString('hex')}`);
    await mkdir(dl);
    try {
      const specs = missing.map((p) => `${p.name}=${p.version}`);
      await runCommand('apt-get', ['download', '-q', ...specs], { cwd: dl, signal }).catch((err: unknown) => {
        throw signal?.aborted ? err : unavailable(specs.join(' '), err);
      });
      for (const name of await readdir(dl)) if (name.endsWith('.deb')) await rename(join(dl, name), join(cacheDir, name));
    } finally {
      await rm(dl, { recursive: true, force: true });
    }
  }
  const files: string[] = [];
  for (const pkg of pkgs) {
    const file = await findCached(cacheDir, pkg);
    if (!file) throw unavailable(`${pkg.name}=${pkg.version}`);
    files.push(file);
  }
  // Older versions of the same packages are never used again; a kernel .deb is ~27 MB.
  for (const name of await readdir(cacheDir)) {
    const pkg = pkgs.find((p) => name.startsWith(`${p.name}_`));
    if (pkg && name.endsWith('.deb') && !files.includes(join(cacheDir, name))) await rm(join(cacheDir, name), { force: true });
  }
  return files;
}

/** Unpacks a .deb's files (not its maintainer scripts) into dest. */
export async function unpackDeb(deb: string, dest: string, signal?: AbortSignal): Promise<void> {
  await mkdir(dest, { recursive: true });
  await runCommand('dpkg-deb', ['-x', deb, dest], { signal });
}
