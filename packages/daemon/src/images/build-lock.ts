import { readFileSync } from 'node:fs';
import { link, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** How often a build waiting for another process's build of the same image looks again. */
const POLL_MS = 500;

/** This process's identity in a lock file: pid and start time, so a reused pid is not taken for the holder. */
function processTag(pid: number): string | undefined {
  try {
    // Field 22 of /proc/PID/stat (start time in clock ticks), counted after the ")" that ends the command name.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ');
    return fields?.[19] === undefined ? undefined : `${pid} ${fields[19]}`;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });

/**
 * Removes a dead holder's lock. Two waiters may judge the same dead lock: the one whose rename comes second may
 * move the first one's new lock instead, so it checks what it moved and puts a live lock back.
 */
export async function takeOver(path: string, dead: string): Promise<void> {
  const moved = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  if (!(await rename(path, moved).then(() => true, () => false))) return; // another waiter took it first
  try {
    if ((await readFile(moved, 'utf8').catch(() => '')).trim() !== dead) await link(moved, path).catch(() => undefined);
  } finally {
    await rm(moved, { force: true });
  }
}

/**
 * Runs `fn` holding `imagesDir/.NAME.lock`, so two processes (two daemons on one image cache, or test runs side by
 * side) never build the same image at once: the second waits, then finds the first's build (a cache hit). A lock
 * whose holder is gone (a crashed build) is taken over.
 */
export async function withBuildLock<T>(
  o: { imagesDir: string; name: string; signal?: AbortSignal; onWait?: (holderPid: number) => void },
  fn: () => Promise<T>,
): Promise<T> {
  await mkdir(o.imagesDir, { recursive: true });
  const path = join(o.imagesDir, `.${o.name}.lock`);
  const mine = processTag(process.pid) ?? `${process.pid} ?`;
  let told = false;
  for (;;) {
    o.signal?.throwIfAborted();
    const file = await open(path, 'wx').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') return undefined;
      throw err;
    });
    if (file) {
      await file.writeFile(`${mine}\n`).finally(() => file.close());
      break;
    }
    const holder = (await readFile(path, 'utf8').catch(() => '')).trim();
    const pid = Number.parseInt(holder, 10);
    // An empty file is a holder between its open and its write: give it a few seconds before judging it.
    const fresh = holder === '' && Date.now() - ((await stat(path).catch(() => undefined))?.mtimeMs ?? 0) < 5000;
    if (!fresh && (!(pid > 0) || processTag(pid) !== holder)) {
      await takeOver(path, holder);
      continue;
    }
    if (!told && pid > 0) o.onWait?.(pid);
    told = true;
    await sleep(POLL_MS, o.signal);
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}
