import { constants } from 'node:os';
import type { Command } from 'commander';
import { DAEMON_NODE_FLAGS } from '@lodge/api/lite';
import { daemonEntry } from './daemon-entry.js';
import type { Session } from './session.js';

/** `lodge daemon`: lodged in the foreground, as its own process so the CLI never loads daemon code. */
export function registerDaemonCommand(program: Command, session: Session): void {
  program
    .command('daemon')
    .description('run lodged in the foreground (Ctrl-C stops it; running VMs keep running)')
    .action(async () => {
      const { spawn } = await import('node:child_process'); // ~6 ms to load: not for every command
      const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, daemonEntry(session.env)], { stdio: 'inherit', env: session.env });
      const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
      process.on('SIGINT', forward);
      process.on('SIGTERM', forward);
      process.exitCode = await new Promise<number>((resolve, reject) => {
        child.once('error', reject);
        // A death by signal exits like a shell reports it: 128 + the signal number.
        child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
      });
    });
}
