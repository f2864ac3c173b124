import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { argvOf, checkDashes, execStartFrom, parseEnv, SHELL_ARGV, shellStartFrom } from './exec-request.js';
import { UsageError } from './flag-values.js';
import { buildProgram } from './program.js';
import { Session } from './session.js';

/** Reaching connect() means every check passed; the error says so without any daemon. */
class OfflineSession extends Session {
  override connect(): never {
    throw new Error('connected to the daemon');
  }
}
const program = (): Command => buildProgram(new OfflineSession({}));
const run = (argv: string[]): Promise<unknown> => program().parseAsync(argv, { from: 'user' }).catch((err: unknown) => err);
const local = { stdinIsTty: true, size: { rows: 50, cols: 132 }, term: 'xterm', env: { HOME: '/home/me' } };

describe('exec arguments', () => {
  it('takes the guest command from after "--", its options included', async () => {
    expect(() => checkDashes(['exec', 'web', '--env', 'A=1', '--', 'ls', '-t', '--user', 'x'], ['ls', '-t', '--user', 'x'], 'u')).not.toThrow();
    expect(await run(['exec', 'web', '--user', 'app', '--', 'ls', '-la', '-t'])).toMatchObject({ message: 'connected to the daemon' });
    expect(await run(['shell', 'web'])).toMatchObject({ message: 'connected to the daemon' });
    expect(await run(['exec', 'web', '--sh', 'dmesg | tail'])).toMatchObject({ message: 'connected to the daemon' });
  });

  it('refuses command words before "--", so their options are never taken for ours', async () => {
    expect(() => checkDashes(['exec', 'web', 'ls'], ['ls'], 'u')).toThrow(/put the guest command after "--" \(found "ls" before it\)/);
    expect(() => checkDashes(['exec', 'web', 'ls', '--', '-l'], ['ls', '-l'], 'u')).toThrow(/found "ls"/);
    const err = await run(['exec', 'web', 'uname']);
    expect(err).toBeInstanceOf(UsageError);
    expect(await run(['shell', 'web', 'top'])).toBeInstanceOf(UsageError);
  });

  it('needs a command, or --sh, not both', () => {
    expect(() => argvOf([], undefined)).toThrow(UsageError);
    expect(() => argvOf(['ls'], 'ls')).toThrow(/not both/);
    expect(argvOf([], 'a | b')).toEqual(['/bin/sh', '-c', 'a | b']);
    expect(argvOf([], undefined, SHELL_ARGV)).toEqual(['/bin/sh', '-l']);
    expect(argvOf(['htop'], undefined, SHELL_ARGV)).toEqual(['htop']);
  });

  it('parses --env NAME=value, passes on a bare NAME, refuses bad names', async () => {
    expect(parseEnv(['A=1', 'B=x=y', 'EMPTY=', 'HOME'], { HOME: '/home/me' })).toEqual({ A: '1', B: 'x=y', EMPTY: '', HOME: '/home/me' });
    expect(() => parseEnv(['1A=x'], {})).toThrow(UsageError);
    expect(() => parseEnv(['=x'], {})).toThrow(UsageError);
    expect(() => parseEnv(['UNSET'], {})).toThrow(/UNSET is not set here/);
    expect(await run(['exec', 'web', '-e', 'BAD-NAME=1', '--', 'env'])).toBeInstanceOf(UsageError);
    expect(await run(['exec', 'web', '--timeout', 'soon', '--', 'sleep', '9'])).toBeInstanceOf(UsageError);
  });

  it('lodge shell: a terminal when stdin is one or with -t; piped stdin without one is a script for the shell, as with ssh', () => {
    expect(shellStartFrom([], {}, local)).toEqual({ argv: SHELL_ARGV, tty: { rows: 50, cols: 132, term: 'xterm' }, stdin: true });
    expect(shellStartFrom([], {}, { ...local, stdinIsTty: false })).toEqual({ argv: SHELL_ARGV, stdin: true });
    expect(shellStartFrom(['top'], { tty: true }, { ...local, stdinIsTty: false })).toMatchObject({ argv: ['top'], tty: { rows: 50, cols: 132 }, stdin: true });
  });

  it('forwards stdin when piped or with -i, never with --no-stdin; a tty carries the local size', () => {
    expect(execStartFrom(['cat'], {}, local).stdin).toBe(false);
    expect(execStartFrom(['cat'], {}, { ...local, stdinIsTty: false }).stdin).toBe(true);
    expect(execStartFrom(['cat'], { stdin: true }, local).stdin).toBe(true);
    expect(execStartFrom(['cat'], { stdin: false }, { ...local, stdinIsTty: false }).stdin).toBe(false);
    expect(execStartFrom(['top'], { tty: true, user: 'app', cwd: '/srv', timeout: '30', env: ['A=1'] }, local)).toEqual({
      argv: ['top'], env: { A: '1' }, cwd: '/srv', user: 'app', timeoutMs: 30_000,
      tty: { rows: 50, cols: 132, term: 'xterm' }, stdin: true,
    });
  });
});
