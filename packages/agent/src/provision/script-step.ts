// Scripts: runcmd entries in order, each once per instance; then PER_BOOT_SCRIPTS_DIR's executables, every boot.

import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { PER_BOOT_SCRIPTS_DIR, PROVISION_SCRIPTS_DIR } from '@lodge/api/guest';
import { at, cleanEnv, CommandFailed } from './guest-system.js';
import { once, TimedOut, tracked, type StepContext } from './step-run.js';

/** Exit codes of `timeout`: 124 when its TERM ended the command, 137 when its -k KILL did. */
const TIMEOUT_CODES = [124, 137];

const SCRIPT_PATH = new RegExp(`(?:^|[\\s'"])${PROVISION_SCRIPTS_DIR.replaceAll('/', '\\/')}\\/([^\\s'"/]+)`);

/** A runcmd entry's name: the base name of the provision script it runs (maybe inside `sh -c` text), else runcmd-<n>. */
export function runcmdName(argv: string[], n: number): string {
  for (const a of argv) {
    const m = SCRIPT_PATH.exec(a);
    if (m) return m[1] as string;
  }
  return `runcmd-${n}`;
}

/** True when the `timeout` wrapper runs the command: argv[0], or an argument before the script (behind runuser or env). */
function underTimeout(argv: string[]): boolean {
  const script = argv.findIndex((a) => SCRIPT_PATH.test(a));
  return argv.slice(0, script < 0 ? 1 : script).some((a) => basename(a) === 'timeout');
}

/** A per-boot wrapper that execs `timeout` (as Lodge writes them) reports its time-outs like runcmd does. */
async function wrapsTimeout(path: string): Promise<boolean> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return /^exec '?timeout'? /m.test(text.slice(0, 4096));
}

async function runScript(ctx: StepContext, name: string, argv: string[], timed = underTimeout(argv)): Promise<void> {
  await tracked(ctx, 'script', name, async () => {
    const result = await ctx.system.run(argv, { env: cleanEnv('/root'), logAs: name });
    if (result.code === 0) return;
    throw TIMEOUT_CODES.includes(result.code) && timed ? new TimedOut(argv, result) : new CommandFailed(argv, result);
  });
}

export async function runcmd(ctx: StepContext): Promise<void> {
  const entries = ctx.config.runcmd ?? [];
  for (const [i, argv] of entries.entries()) {
    const name = runcmdName(argv, i + 1);
    await once(ctx, 'script', `runcmd-${i + 1}`, () => runScript(ctx, name, argv), name);
  }
}

/** The executable regular files of the per-boot folder, in name order (as run-parts orders them). */
export async function perBootScripts(ctx: StepContext): Promise<string[]> {
  const dir = at(ctx.system, PER_BOOT_SCRIPTS_DIR);
  const names = (await readdir(dir).catch(() => [] as string[])).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: string[] = [];
  for (const name of names) {
    const s = await stat(join(dir, name)).catch(() => undefined);
    if (s?.isFile() && (s.mode & 0o111) !== 0) out.push(name);
  }
  return out;
}

export async function runPerBoot(ctx: StepContext): Promise<void> {
  for (const name of await perBootScripts(ctx)) {
    const path = join(at(ctx.system, PER_BOOT_SCRIPTS_DIR), name);
    await runScript(ctx, name, [path], await wrapsTimeout(path));
  }
}
