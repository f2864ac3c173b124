import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LodgeError } from '@lodge/api/lite';

/** The daemon's main.js: LODGE_DAEMON when set (tests, development), else the installed @lodge/daemon package. */
export function daemonEntry(env: NodeJS.ProcessEnv = process.env): string {
  let entry = env.LODGE_DAEMON;
  if (!entry) {
    try {
      // Resolved, never imported: the CLI only renders and must not load daemon code.
      entry = fileURLToPath(import.meta.resolve('@lodge/daemon'));
    } catch (err) {
      throw new LodgeError('daemon_unreachable', 'cannot find the lodged program (package @lodge/daemon)', {
        hint: 'install @lodge/daemon next to @lodge/cli, or set LODGE_DAEMON to the path of its dist/main.js',
        cause: err,
      });
    }
  }
  if (!existsSync(entry)) {
    throw new LodgeError('daemon_unreachable', `the lodged program ${entry} does not exist`, {
      hint: env.LODGE_DAEMON ? 'fix LODGE_DAEMON, or unset it' : 'build it with: npx tsc -b packages/daemon',
    });
  }
  return entry;
}
