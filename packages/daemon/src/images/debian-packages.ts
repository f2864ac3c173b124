import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { LodgeError } from '@lodge/api';
import { runCommand } from './host-command.js';
import { dependencyClosure, parseAptDepends, parsePolicyCandidates } from './package-closure.js';

/** A Debian package pinned to the version apt would install now. */
export interface ResolvedPackage {
  name: string;
  version: string;
}

const APT_HINT = 'run apt-get update on the host (the host needs to reach a Debian mirror), then build again';

/** Where apt calls for an image build may keep state, and how to stop them. */
export interface AptOptions {
  signal?: AbortSignal;
  /** A folder for apt's binary package cache (pkgcache.bin, ~40 MB), so each call need not rebuild it (~0.8 s). */
  cacheDir?: string;
}

/**
 * apt as if nothing were installed: the image is not the host, and a version installed on the host from a
 * source it no longer lists (e.g. nodesource's nodejs) would otherwise be the candidate, and not downloadable.
 * With a cacheDir, apt keeps its package cache there (hosts set up like Docker images disable the system one);
 * apt checks it against the package lists on every call and replaces it atomically.
 */
export function aptOptions(cacheDir?: string): string[] {
  const cache = cacheDir === undefined ? [] : ['-o', `Dir::Cache::pkgcache=${join(cacheDir, 'pkgcache.bin')}`, '-o', 'Dir::Cache::srcpkgcache='];
  return ['-o', 'Dir::State::status=/dev/null', ...cache];
}

async function aptCache(args: string[], opts: AptOptions): Promise<string> {
  if (opts.cacheDir !== undefined) await mkdir(opts.cacheDir, { recursive: true });
  return runCommand('apt-cache', [...aptOptions(opts.cacheDir), ...args], { signal: opts.signal });
}

/** The dependency kinds a closure follows: Depends only (Pre-Depends pull in dpkg, tar, usrmerge: installer tools). */
export const CLOSURE_FLAGS = ['--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances', '--no-pre-depends'];

function unavailable(name: string, cause?: unknown): LodgeError {
  return new LodgeError('image_unavailable', `Debian package "${name}" is not available from apt`, { hint: APT_HINT, cause });
}

/** Pins packages to apt's candidate versions with one `apt-cache policy`; a name apt cannot offer is `image_unavailable`. */
export async function resolveVersions(names: string[], opts: AptOptions = {}): Promise<ResolvedPackage[]> {
  const out = await aptCache(['policy', ...names], opts).catch((err: unknown) => {
    throw opts.signal?.aborted ? err : unavailable(names.join(', '), err);
  });
  const candidates = parsePolicyCandidates(out);
  return names.map((name) => {
    const version = candidates.get(name);
    if (version === undefined) throw unavailable(name);
    return { name, version };
  });
}

/** The names apt has no installable candidate for (unknown, or virtual with no single provider), in the order given. */
export async function missingPackages(names: string[], opts: AptOptions = {}): Promise<string[]> {
  if (names.length === 0) return [];
  const candidates = parsePolicyCandidates(await aptCache(['policy', ...names], opts));
  return names.filter((n) => !candidates.has(n));
}

/** Resolves a package to apt's candidate version; a name apt does not know is `image_unavailable`. */
export async function resolvePackage(name: string, opts: AptOptions = {}): Promise<ResolvedPackage> {
  const [pkg] = await resolveVersions([name], opts);
  if (!pkg) throw unavailable(name);
  return pkg;
}

/** The versioned package a metapackage (e.g. linux-image-cloud-amd64) depends on, by name. */
export async function metapackageTarget(meta: string, target: RegExp, opts: AptOptions = {}): Promise<string> {
  const out = await aptCache(['depends', '--important', meta], opts).catch((err: unknown) => {
    throw opts.signal?.aborted ? err : unavailable(meta, err);
  });
  const dep = [...out.matchAll(/^\s*(?:\|)?Depends:\s*(\S+)/gm)].map((m) => m[1] ?? '').find((n) => target.test(n));
  if (!dep) throw unavailable(meta, new Error(`no dependency of ${meta} matches ${target}`));
  return dep;
}

/** Follows a metapackage to the versioned package it depends on. */
export async function resolveMetapackage(meta: string, target: RegExp, opts: AptOptions = {}): Promise<ResolvedPackage> {
  return resolvePackage(await metapackageTarget(meta, target, opts), opts);
}

/**
 * The names of the packages `roots` need: Depends followed recursively with one `apt-cache depends --recurse`
 * (first alternative of each `a | b`, see dependencyClosure), roots included, sorted.
 */
export async function dependencyNames(roots: string[], opts: AptOptions = {}): Promise<string[]> {
  const out = await aptCache(['depends', '--recurse', ...CLOSURE_FLAGS, ...roots], opts).catch((err: unknown) => {
    throw opts.signal?.aborted ? err : unavailable(roots.join(', '), err);
  });
  const { packages, unsatisfied } = dependencyClosure(parseAptDepends(out), roots);
  if (unsatisfied.length > 0) throw unavailable(roots.join(', '), new Error(`unsatisfied dependencies: ${unsatisfied.join('; ')}`));
  return packages;
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
      await runCommand('apt-get', [...aptOptions(), 'download', '-q', ...specs], { cwd: dl, signal }).catch((err: unknown) => {
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
