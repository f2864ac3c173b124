import { mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep } from '../sys/process-info.js';

/** The file's text without its trailing newline, undefined when it cannot be read. */
export async function readValue(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** A counter file ("123") or one field of a "key value" file (cpu.stat, memory.events, memory.oom_control). */
export async function readNumber(path: string, key?: string): Promise<number | undefined> {
  const text = await readValue(path);
  if (text === undefined) return undefined;
  const raw = key === undefined ? text : new RegExp(`^${key} (\\d+)$`, 'm').exec(text)?.[1];
  const n = Number(raw);
  return raw === undefined || raw === '' || !Number.isFinite(n) ? undefined : n;
}

/** The kernel applies one write per open; writeFile does one write of the whole value. */
export const writeValue = (path: string, value: string | number): Promise<void> => writeFile(path, String(value));

/**
 * Writes [file, value] pairs in order; if one fails, the ones already written get their old values back,
 * so a refused change leaves the group as it was.
 */
export async function writeAll(pairs: [string, string | number][]): Promise<void> {
  const done: [string, string][] = [];
  try {
    for (const [file, value] of pairs) {
      const old = await readValue(file);
      await writeValue(file, value);
      if (old !== undefined) done.push([file, old]);
    }
  } catch (err) {
    for (const [file, old] of done.reverse()) await writeValue(file, old).catch(() => undefined);
    throw err;
  }
}

/**
 * Makes each level of rel under base and calls prepare(level dir) on every level, new or not, before the next one:
 * another lodged call may have just made a level without preparing it yet, so prepare must be idempotent.
 */
export async function makeLevels(base: string, rel: string[], prepare: (dir: string) => Promise<void>): Promise<void> {
  let dir = base;
  for (const part of rel) {
    dir = join(dir, part);
    await mkdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    await prepare(dir);
  }
}

/** rmdir of a cgroup: the kernel refuses (EBUSY) while exited tasks are still being reaped, so retry a little. */
export async function removeGroup(dir: string, tries = 20): Promise<boolean> {
  for (let i = 0; ; i++) {
    try {
      await rmdir(dir);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return true;
      if (code !== 'EBUSY' || i >= tries) return false;
      await sleep(50);
    }
  }
}

/** Sub-folders of dir (the VM groups under a data folder's group); none when it does not exist. */
export async function childGroups(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}
