import type { Command } from 'commander';
import type { ExecStart } from '@lodge/api/lite';
import { argvOf, checkDashes, collect, execStartFrom, shellStartFrom, type ExecFlags } from './exec-request.js';
import { LocalTerminal } from './local-terminal.js';
import type { Session } from './session.js';

const EXEC_USAGE = "lodge exec VM [options] -- CMD [ARGS...]   or   lodge exec VM --sh 'PIPELINE'";
const SHELL_USAGE = 'lodge shell VM [options] [-- CMD [ARGS...]]';

/** Commander keeps the words it was given on the root command only; checkDashes needs them. */
const rawArgsOf = (cmd: Command): readonly string[] => (cmd.parent as unknown as { rawArgs?: string[] } | null)?.rawArgs ?? [];

/** Checks the flags (before any request), then runs the process and sets the CLI's exit code to the guest's. */
async function run(session: Session, vm: string, build: (local: LocalTerminal) => ExecStart): Promise<void> {
  const terminal = new LocalTerminal();
  const start = build(terminal);
  const client = await session.connect();
  const { runInGuest } = await import('./remote-process.js');
  process.exitCode = await runInGuest(client, vm, start, terminal);
}

const localSide = (terminal: LocalTerminal) => ({ stdinIsTty: terminal.stdinIsTty, size: terminal.size(), term: process.env.TERM, env: process.env });

/** exec and shell: processes in the guest through its agent, with the guest's exit code as ours. */
export function registerExecCommands(program: Command, session: Session): void {
  program
    .command('exec')
    .description('run a command in a running VM (no shell; the command goes after --) and exit with its exit code')
    .usage('VM [options] -- CMD [ARGS...]')
    .argument('<vm>', 'VM name')
    .argument('[command...]', 'the command and its arguments, after --')
    .option('-e, --env <NAME=value>', 'set a variable (repeatable); a bare NAME passes on the local value', collect)
    .option('--cwd <dir>', 'working folder in the guest')
    .option('-u, --user <user>', 'guest user to run as')
    .option('--timeout <sec>', 'kill the command after this many seconds (then exit 124)')
    .option('-t, --tty', 'run it on a terminal, interactively (like lodge shell)')
    .option('-i, --stdin', 'forward stdin even when it is a terminal (default: only a pipe or file)')
    .option('--no-stdin', 'never forward stdin: the command reads /dev/null')
    .option('--sh <pipeline>', "run a shell pipeline with /bin/sh -c, e.g. --sh 'dmesg | tail'")
    .addHelpText('after', '\nExit code: the command\'s own; 128+N when signal N killed it; 124 after --timeout; 127 when it is not found in\nthe guest, 126 when it cannot run there (as sh and ssh); 1 when lodge itself fails.\nCtrl-C is passed on as SIGINT; twice within 1 s sends SIGKILL.')
    .action((vm: string, command: string[], flags: ExecFlags, cmd: Command) => {
      checkDashes(rawArgsOf(cmd), command, EXEC_USAGE);
      return run(session, vm, (t) => execStartFrom(argvOf(command, flags.sh), flags, localSide(t)));
    });

  program
    .command('shell')
    .description("open an interactive terminal in a running VM (default: a login shell); keys go to the guest as over ssh")
    .usage('VM [options] [-- CMD [ARGS...]]')
    .argument('<vm>', 'VM name')
    .argument('[command...]', 'a command to run instead of the login shell, after --')
    .option('-u, --user <user>', 'guest user to log in as')
    .option('--cwd <dir>', 'working folder in the guest')
    .option('-e, --env <NAME=value>', 'set a variable (repeatable)', collect)
    .option('-t, --tty', 'a terminal even when stdin is not one (as ssh -t)')
    .addHelpText('after', '\nWith stdin not a terminal (a pipe, a file) there is no terminal, as with ssh: the shell reads stdin as a\nscript, e.g. lodge shell VM < setup.sh. Exit code: the shell\'s (or the command\'s) own.')
    .action((vm: string, command: string[], flags: ExecFlags, cmd: Command) => {
      checkDashes(rawArgsOf(cmd), command, SHELL_USAGE);
      return run(session, vm, (t) => shellStartFrom(command, flags, localSide(t)));
    });
}
