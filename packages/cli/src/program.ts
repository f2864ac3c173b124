import { Command, CommanderError } from 'commander';
import { registerBusCommands } from './bus-commands.js';
import { registerConsoleCommand } from './console-session.js';
import { registerCopyCommand } from './copy-command.js';
import { registerDaemonCommand } from './daemon-command.js';
import { registerDiskCommands } from './disk-commands.js';
import { registerExecCommands } from './exec-commands.js';
import { UsageError } from './flag-values.js';
import { registerHostCommand } from './host-command.js';
import { registerImageCommands } from './image-commands.js';
import { registerInspectCommands } from './inspect-commands.js';
import { registerLifecycleCommands } from './lifecycle-commands.js';
import { registerMetricsCommands } from './metrics-commands.js';
import type { Session } from './session.js';
import { registerVmCommands } from './vm-commands.js';
import { registerSetCommand } from './set-command.js';

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
  registerSetCommand(program, session);
  registerDiskCommands(program, session);
  registerInspectCommands(program, session);
  registerConsoleCommand(program, session);
  registerExecCommands(program, session);
  registerCopyCommand(program, session);
  registerBusCommands(program, session);
  registerMetricsCommands(program, session);
  registerHostCommand(program, session);
  registerImageCommands(program, session);
  registerDaemonCommand(program, session);
  program.hook('preAction', (_root, action) => {
    session.json = Boolean(action.opts().json);
  });
  return program;
}

/** The commands named at the start of argv ("image build"), for the hint of a usage error. */
function commandPath(program: Command, argv: readonly string[]): string[] {
  const path: string[] = [];
  let cmd = program;
  for (const word of argv.filter((a) => !a.startsWith('-'))) {
    const sub = cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!sub) break;
    path.push(sub.name());
    cmd = sub;
  }
  return path;
}

/** Commander's own failures: help and --version are not errors; the rest are usage errors (exit 2). */
export function fromCommander(err: CommanderError, ctx: { program: Command; argv: readonly string[] }): UsageError | number {
  if (['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code)) return err.exitCode;
  const path = commandPath(ctx.program, ctx.argv);
  const help = ['lodge', ...path, '--help'].join(' ');
  // `lodge exec web ls -l`: the guest command's options were taken for lodge's.
  if (err.code === 'commander.unknownOption' && ['exec', 'shell'].includes(path[0] ?? '')) {
    return new UsageError(err.message.replace(/^error: /, ''), `put the guest command after "--": lodge ${path[0]} VM [options] -- CMD [ARGS...]`);
  }
  return new UsageError(err.message.replace(/^error: /, ''), `see: ${help}`);
}
