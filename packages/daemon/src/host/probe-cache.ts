import { readFile, stat } from 'node:fs/promises';
import { uptime } from 'node:os';
import { z } from 'zod';
import { Accelerator, HostInfo } from '@lodge/api';
import { writeFileAtomic } from '../sys/atomic-file.js';
import { parseJsonAs } from '../sys/json-text.js';

/** What makes a cached probe stale: another host boot, or another (or upgraded) qemu-system binary. */
export const ProbeKey = z.object({ bootId: z.string(), qemuSystem: z.string() });
export type ProbeKey = z.infer<typeof ProbeKey>;

/** The expensive part of HostInfo, run once per key. */
export const CachedProbe = z.object({
  schema: z.literal(1),
  key: ProbeKey,
  probedAt: z.string(),
  qemuVersion: z.string().optional(),
  qemuVersionNote: z.string().optional(),
  cgroup: HostInfo.shape.cgroup,
  accelerator: Accelerator,
  acceleratorNote: z.string(),
});
export type CachedProbe = z.infer<typeof CachedProbe>;

/** The cached probe if it parses and matches key; a missing, corrupt or stale file reads as undefined. */
export async function readProbeCache(path: string, key: ProbeKey): Promise<CachedProbe | undefined> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  const cached = parseJsonAs(CachedProbe, raw);
  if (!cached) return undefined;
  return cached.key.bootId === key.bootId && cached.key.qemuSystem === key.qemuSystem ? cached : undefined;
}

export async function writeProbeCache(path: string, entry: CachedProbe): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(entry, null, 2)}\n`);
}

/** The kernel's per-boot UUID; without it, the boot time to the minute stands in. */
export async function readBootId(path = '/proc/sys/kernel/random/boot_id'): Promise<string> {
  try {
    const id = (await readFile(path, 'utf8')).trim();
    if (id !== '') return id;
  } catch {
    // Not Linux, or /proc hidden: fall through.
  }
  return `booted-${Math.round((Date.now() / 1000 - uptime()) / 60)}`;
}

/** Path plus inode, size and mtime: a package upgrade replaces the file, so all change together. */
export async function binaryIdentity(path: string | undefined): Promise<string> {
  if (path === undefined) return 'missing';
  try {
    const s = await stat(path);
    return `${path}:${s.ino}:${s.size}:${Math.round(s.mtimeMs)}`;
  } catch {
    return `${path}:unreadable`;
  }
}
