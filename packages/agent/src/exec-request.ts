// Checks an exec request field by field and builds the child's environment.

import { constants } from 'node:os';
import type { ExecRequest } from '@lodge/api/guest';
import { OpError } from './op-error.js';
import { DEFAULT_PATH } from './program-path.js';
import type { GuestUser } from './user-db.js';
import { asObject, bool, int, str, strArray, strRecord, type Fields } from './validate.js';

export type ExecOptions = Omit<ExecRequest, 'op'>;

export function parseExecRequest(fields: Fields): ExecOptions {
  const argv = strArray(fields, 'argv', { min: 1, max: 65536 });
  if (argv[0] === '') throw new OpError('invalid_argument', 'argv[0] must not be empty');
  const out: ExecOptions = { argv };
  const env = strRecord(fields, 'env');
  if (env) out.env = env;
  const cwd = str(fields, 'cwd', { optional: true });
  if (cwd !== undefined) out.cwd = cwd;
  const user = str(fields, 'user', { optional: true, max: 256 });
  if (user !== undefined) out.user = user;
  if (fields.tty !== undefined) {
    const tty = asObject(fields.tty, 'tty');
    out.tty = { rows: int(tty, 'rows', { min: 1, max: 9999 }) as number, cols: int(tty, 'cols', { min: 1, max: 9999 }) as number };
    const term = str(tty, 'term', { optional: true, max: 128 });
    if (term !== undefined) out.tty.term = term;
  }
  const stdin = bool(fields, 'stdin');
  if (stdin !== undefined) out.stdin = stdin;
  const timeoutMs = int(fields, 'timeoutMs', { optional: true, min: 1, max: 2 ** 31 - 1 });
  if (timeoutMs !== undefined) out.timeoutMs = timeoutMs;
  return out;
}

/** PATH default, the user's HOME/USER/LOGNAME/SHELL, TERM for terminals, then the request's variables. */
export function buildEnv(request: ExecOptions, user: GuestUser): Record<string, string> {
  return {
    PATH: DEFAULT_PATH,
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    SHELL: user.shell,
    ...(request.tty ? { TERM: request.tty.term ?? 'xterm-256color' } : {}),
    ...request.env,
  };
}

/** A signal name the kernel knows ("SIGTERM"; "TERM" is accepted too). */
export function parseSignal(value: unknown): NodeJS.Signals {
  if (typeof value !== 'string') throw new OpError('invalid_argument', 'signal must be a string such as "SIGTERM"');
  const name = value.startsWith('SIG') ? value : `SIG${value}`;
  if (!Object.prototype.hasOwnProperty.call(constants.signals, name)) {
    throw new OpError('invalid_argument', `unknown signal "${value}"`);
  }
  return name as NodeJS.Signals;
}
