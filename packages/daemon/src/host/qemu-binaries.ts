import { access, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { LodgeError } from '@lodge/api';
import { readQemuVersion } from './qemu-version.js';

export interface QemuBinaries {
  system?: string;
  img?: string;
  version?: string;
  note?: string;
}

export interface FindQemuOptions {
  /** Overrides LODGE_QEMU_SYSTEM and PATH. */
  system?: string;
  /** Overrides LODGE_QEMU_IMG and PATH. */
  img?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

interface Binary { name: string; envVar: string; pkg: string }
const SYSTEM: Binary = { name: 'qemu-system-x86_64', envVar: 'LODGE_QEMU_SYSTEM', pkg: 'qemu-system-x86' };
const IMG: Binary = { name: 'qemu-img', envVar: 'LODGE_QEMU_IMG', pkg: 'qemu-utils' };

/** Where the binaries are, without running them (cheap: a few access() calls). */
export async function locateQemu(opts: FindQemuOptions = {}): Promise<QemuBinaries> {
  const env = opts.env ?? process.env;
  const [system, img] = await Promise.all([locate(SYSTEM, opts.system, env), locate(IMG, opts.img, env)]);
  return { system: system.path, img: img.path, ...joinNotes([system.note, img.note]) };
}

/** Paths plus the version from `--version` (of qemu-system, else of qemu-img). */
export async function findQemu(opts: FindQemuOptions = {}): Promise<QemuBinaries> {
  const found = await locateQemu(opts);
  const binary = found.system ?? found.img;
  if (binary === undefined) return found;
  const { version, note } = await readQemuVersion(binary, opts.signal);
  return { ...found, version, ...joinNotes([found.note, note]) };
}

/** Like findQemu, but a missing qemu-system is an error the user must fix before any VM can start. */
export async function requireQemu(opts: FindQemuOptions = {}): Promise<QemuBinaries & { system: string }> {
  const found = await findQemu(opts);
  if (found.system !== undefined) return { ...found, system: found.system };
  throw new LodgeError('host_unsupported', found.note ?? `${SYSTEM.name} not found`, {
    hint: `install it with apt-get install ${SYSTEM.pkg}, or set ${SYSTEM.envVar} to its path`,
    details: { envVar: SYSTEM.envVar, value: (opts.env ?? process.env)[SYSTEM.envVar] },
  });
}

async function locate(bin: Binary, explicit: string | undefined, env: NodeJS.ProcessEnv): Promise<{ path?: string; note?: string }> {
  const wanted = explicit ?? (env[bin.envVar] || undefined);
  if (wanted?.includes('/')) {
    const path = resolve(wanted);
    if (await isExecutable(path)) return { path };
    const from = explicit === undefined ? ` (from ${bin.envVar})` : '';
    return { note: `${bin.name} not found at ${wanted}${from}: install it with apt-get install ${bin.pkg} or fix ${bin.envVar}` };
  }
  const name = wanted ?? bin.name;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && (await isExecutable(join(dir, name)))) return { path: join(dir, name) };
  }
  return { note: `${name} not found in PATH: install it with apt-get install ${bin.pkg}` };
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile() && (await access(path, constants.X_OK), true);
  } catch {
    return false;
  }
}

function joinNotes(notes: (string | undefined)[]): { note?: string } {
  const present = notes.filter((n): n is string => n !== undefined && n !== '');
  return present.length > 0 ? { note: present.join('; ') } : {};
}
