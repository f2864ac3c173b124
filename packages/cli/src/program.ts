import { Command, CommanderError } from 'commander';
import { registerConsoleCommand } from './console-session.js';
import { registerDaemonCommand } from './daemon-command.js';
import { UsageError } from './flag-values.js';
import { registerHostCommand } from './host-command.js';
import { registerImageCommands } from './image-commands.js';
import { registerInspectCommands } from './inspect-commands.js';
import { registerLifecycleCommands } from './lifecycle-commands.js';
import type { Session } from './session.js';
import { registerVmCommands } from './vm-commands.js';

const VERSION = '0.1.0';

/** The whole command tree; commander's own errors are thrown (not printed) so one printer shows every error. */
export function buildProgram(session: Session): Command {
  const program = new Command('lodge')
    .description('Lodge: Linux VMs on QEMU, run by the lodged daemon (started on demand)')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ outputError: () => undefined })
    .showSuggestionAfterError(true);
  registerVmCommands(program, session);
  registerLifecycleCommands(program, session);
  registerInspectCommands(program, session);
  registerConsoleCommand(program, session);
  registerHostCommand(program, session);
  registerImageCommands(program, session);
  registerDaemonCommand(program, session);
  program.hook('preAction', (_root, action) => {
    session.json = Boolean(action.opts().json);
  });
  return program;
}

/** Commander's own failures: help and --version are not errors; the rest are usage errors (exit 2). */
export function fromCommander(err: CommanderError, argv: readonly string[]): UsageError | number {
  if (['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code)) return err.exitCode;
  const command = err.code === 'commander.unknownCommand' ? undefined : argv.find((a) => !a.startsWith('-'));
  return new UsageError(err.message.replace(/^error: /, ''), command ? `see: lodge ${command} --help` : 'see: lodge --help');
}
