import type { ExecStart } from '@lodge/api/lite';
import { UsageError, wholeNumberFlag } from './flag-values.js';

export interface ExecFlags {
  env?: string[];
  cwd?: string;
  user?: string;
  timeout?: string;
  tty?: boolean;
  /** true: -i; false: --no-stdin; undefined: forward stdin when it is not a terminal. */
  stdin?: boolean;
  sh?: string;
}

export interface LocalSide {
  stdinIsTty: boolean;
  size: { rows: number; cols: number };
  term?: string;
  env: NodeJS.ProcessEnv;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const SHELL_ARGV = ['/bin/sh', '-l'];

/** Repeatable flags (--env A=1 --env B=2) collect into a list. */
export const collect = (value: string, list: string[] = []): string[] => [...list, value];

/** "K=V" sets K; a bare "K" passes on the local value of K (as docker does). */
export function parseEnv(items: readonly string[], local: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (!ENV_NAME.test(key)) throw new UsageError(`--env "${item}" is not valid: write NAME=value, NAME a letter or "_" then letters, digits or "_"`);
    const value = eq < 0 ? local[key] : item.slice(eq + 1);
    if (value === undefined) throw new UsageError(`--env ${key}: ${key} is not set here`, `write --env ${key}=value`);
    env[key] = value;
  }
  return env;
}

/**
 * Commander drops the "--" and mixes words from both sides of it into the operands; the guest command must be
 * exactly what follows "--", so that its options (-t, -i, -e...) are never taken for lodge's.
 */
export function checkDashes(rawArgs: readonly string[], command: readonly string[], usage: string): void {
  if (command.length === 0) return;
  const at = rawArgs.indexOf('--');
  const after = at < 0 ? [] : rawArgs.slice(at + 1);
  if (after.length !== command.length || after.some((word, i) => word !== command[i])) {
    const before = at < 0 ? command : command.slice(0, command.length - after.length);
    throw new UsageError(`put the guest command after "--" (found ${JSON.stringify(before.join(' '))} before it)`, `write: ${usage}`);
  }
}

/** The argv to run: the words after "--", or a shell pipeline with --sh, or the login shell for `lodge shell`. */
export function argvOf(command: readonly string[], sh: string | undefined, fallback?: readonly string[]): string[] {
  if (sh !== undefined && command.length > 0) throw new UsageError('give either --sh PIPELINE or a command after "--", not both');
  if (sh !== undefined) return ['/bin/sh', '-c', sh];
  if (command.length > 0) return [...command];
  if (fallback) return [...fallback];
  throw new UsageError('name the command to run', "write: lodge exec VM -- CMD [ARGS...], or lodge exec VM --sh 'PIPELINE'");
}

/** The exec start message for these flags; checked before any request. */
/**
 * lodge shell: a terminal when the local stdin is one (or with -t); else, as ssh does, none: the shell reads the
 * piped stdin as a script and its output carries no prompt or echo.
 */
export function shellStartFrom(command: readonly string[], flags: ExecFlags, local: LocalSide): ExecStart {
  return execStartFrom(argvOf(command, undefined, SHELL_ARGV), { ...flags, tty: flags.tty === true || local.stdinIsTty }, local);
}

export function execStartFrom(argv: string[], flags: ExecFlags, local: LocalSide): ExecStart {
  const start: ExecStart = { argv };
  if (flags.env?.length) start.env = parseEnv(flags.env, local.env);
  if (flags.cwd !== undefined) start.cwd = flags.cwd;
  if (flags.user !== undefined) start.user = flags.user;
  if (flags.timeout !== undefined) start.timeoutMs = wholeNumberFlag('--timeout', flags.timeout, { min: 1, max: 7 * 86400 }) * 1000;
  if (flags.tty) {
    start.tty = { ...local.size, term: local.term ?? 'xterm-256color' };
    start.stdin = flags.stdin !== false; // a terminal session types into the guest unless told not to
  } else {
    start.stdin = flags.stdin ?? !local.stdinIsTty;
  }
  return start;
}
