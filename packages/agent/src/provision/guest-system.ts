// The provisioner's seam to the guest: where its files are (a root folder) and how it runs commands.

import { join } from 'node:path';

/** What a finished command gave: its exit code (128+N for signal N) and the tail of its combined output. */
export interface CommandResult {
  code: number;
  output: Buffer;
}

export interface RunOptions {
  env: Record<string, string>;
  /** Append the output to the provision log under this heading (scripts and apt); else it is only returned. */
  logAs?: string;
}

export interface GuestSystem {
  /** The guest's root folder ("/" in the guest; a temp folder in tests). */
  readonly root: string;
  run(argv: string[], opts: RunOptions): Promise<CommandResult>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  sleep(ms: number): Promise<void>;
}

/** A guest path under the system's root. */
export function at(system: Pick<GuestSystem, 'root'>, guestPath: string): string {
  return system.root === '/' ? guestPath : join(system.root, guestPath);
}

export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The clean environment commands and scripts get. */
export function cleanEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: SYSTEM_PATH, HOME: home, LANG: 'C.UTF-8', ...extra };
}

/** Throws with the command's output when it did not exit 0 (for the provisioner's own commands). */
export async function runChecked(system: GuestSystem, argv: string[], opts: RunOptions = { env: cleanEnv('/root') }): Promise<CommandResult> {
  const result = await system.run(argv, opts);
  if (result.code !== 0) throw new CommandFailed(argv, result);
  return result;
}

export class CommandFailed extends Error {
  constructor(readonly argv: string[], readonly result: CommandResult) {
    const out = result.output.toString('utf8').trim().split('\n').slice(-3).join(' / ');
    super(`${argv.join(' ')} exited with ${result.code}${out ? `: ${out}` : ''}`);
    this.name = 'CommandFailed';
  }
}
