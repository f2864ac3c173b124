// Scripts: runcmd entries in order, each once per instance; then PER_BOOT_SCRIPTS_DIR's executables, every boot.

import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PER_BOOT_SCRIPTS_DIR, PROVISION_SCRIPTS_DIR } from '@lodge/api/guest';
import { at, cleanEnv, CommandFailed } from './guest-system.js';
import { once, TimedOut, tracked, type StepContext } from './step-run.js';

/** Exit codes of `timeout`: 124 when its TERM ended the command, 137 when its -k KILL did. */
const TIMEOUT_CODES = [124, 137];

/** A runcmd entry's name: the base name of the provision script it runs, else runcmd-<n> (1-based). */
export function runcmdName(argv: string[], n: number): string {
  const script = argv.find((a) => dirname(a) === PROVISION_SCRIPTS_DIR);
  return script === undefined ? `runcmd-${n}` : basename(script);
}

/** True when the `timeout` wrapper runs the command (argv[0], or before the script behind runuser/env). */
function underTimeout(argv: string[]): boolean {
  const script = argv.findIndex((a) => dirname(a) === PROVISION_SCRIPTS_DIR || dirname(a) === PER_BOOT_SCRIPTS_DIR);
  return argv.slice(0, script < 0 ? 1 : script).some((a) => basename(a) === 'timeout');
}

async function runScript(ctx: StepContext, name: string, argv: string[]): Promise<void> {
  await tracked(ctx, 'script', name, async () => {
    const result = await ctx.system.run(argv, { env: cleanEnv('/root'), logAs: name });
    if (result.code === 0) return;
    throw TIMEOUT_CODES.includes(result.code) && underTimeout(argv) ? new TimedOut(argv, result) : new CommandFailed(argv, result);
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
  for (const name of await perBootScripts(ctx)) await runScript(ctx, name, [join(at(ctx.system, PER_BOOT_SCRIPTS_DIR), name)]);
}
