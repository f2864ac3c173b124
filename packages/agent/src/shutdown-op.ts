// shutdown: answers first, then powers off or reboots through init (never `reboot -f`: it can hang under QEMU).

import { existsSync } from 'node:fs';
import type { Stream } from '@lodge/api/guest';
import { logError } from './log.js';
import { OpError } from './op-error.js';
import type { OpContext } from './op-context.js';
import { reqStr, type Fields } from './validate.js';

/** Time for the Finish frame to reach the host before init starts killing processes. */
const GRACE_MS = 100;

export function runShutdown(stream: Stream, fields: Fields, ctx: OpContext): void {
  const action = reqStr(fields, 'action');
  if (action !== 'poweroff' && action !== 'reboot') throw new OpError('invalid_argument', 'action must be poweroff or reboot');
  stream.finish({});
  const systemd = existsSync('/run/systemd/system');
  const [command, args] = systemd ? ['systemctl', [action]] : [action, []];
  setTimeout(() => {
    ctx.run(command, args).then(
      ({ code, stderr }) => code !== 0 && logError(`${command} ${args.join(' ')} failed: ${stderr.trim() || `exit ${code}`}`),
      (error: unknown) => logError(`${command}: ${String(error)}`),
    );
  }, GRACE_MS);
}
