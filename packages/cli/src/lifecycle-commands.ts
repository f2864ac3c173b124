import type { Command } from 'commander';
import type { Operation } from '@lodge/api';
import type { LodgeClient } from '@lodge/client';
import { forEachName } from './each-name.js';
import { wholeNumberFlag } from './flag-values.js';
import { followOperation, operationError } from './operation-progress.js';
import type { Session } from './session.js';

type Begin = (client: LodgeClient, name: string) => Promise<Operation>;

/** Sends every request first so the VMs change state together, then follows each operation in turn. */
async function runOperations(session: Session, names: readonly string[], begin: Begin, done: string): Promise<void> {
  const client = await session.connect();
  const started = new Map<string, Promise<Operation>>();
  for (const name of names) {
    const op = begin(client, name);
    op.catch(() => undefined); // handled when its turn comes
    started.set(name, op);
  }
  await forEachName(session, names, async (name) => {
    const op = await (started.get(name) as Promise<Operation>);
    const finished = await followOperation(client, op, { label: name, quiet: session.json });
    if (finished.status === 'failed') throw operationError(finished);
    session.say(`${done} ${name}`);
    return finished;
  });
}

/** start, stop and restart: long work the daemon runs as operations. */
export function registerLifecycleCommands(program: Command, session: Session): void {
  program
    .command('start')
    .description('start VMs and wait until their guest agent is ready')
    .argument('<names...>', 'VM names')
    .option('--no-wait', 'return once the VM runs, without waiting for the guest agent')
    .option('--ready-timeout <sec>', 'seconds to wait for the guest agent (a guest that does not answer is a warning)')
    .option('--json', 'print the finished operation(s) as JSON')
    .action((names: string[], flags: { wait: boolean; readyTimeout?: string }) => {
      const readyTimeout = flags.readyTimeout === undefined ? undefined : wholeNumberFlag('--ready-timeout', flags.readyTimeout, { min: 0, max: 3600 });
      return runOperations(session, names, (c, n) => c.start(n, { wait: flags.wait, readyTimeout }), 'Started');
    });

  program
    .command('stop')
    .description('stop VMs: ACPI power-off, then quit QEMU after the timeout')
    .argument('<names...>', 'VM names')
    .option('--force', 'quit QEMU at once instead of asking the guest to power off')
    .option('--timeout <sec>', 'seconds to wait for the guest to power off')
    .option('--json', 'print the finished operation(s) as JSON')
    .action((names: string[], flags: { force?: boolean; timeout?: string }) => {
      const timeout = flags.timeout === undefined ? undefined : wholeNumberFlag('--timeout', flags.timeout, { min: 0, max: 3600 });
      return runOperations(session, names, (c, n) => c.stop(n, { force: Boolean(flags.force), timeout }), 'Stopped');
    });

  program
    .command('restart')
    .description('stop VMs, then start them again')
    .argument('<names...>', 'VM names')
    .option('--json', 'print the finished operation(s) as JSON')
    .action((names: string[]) => runOperations(session, names, (c, n) => c.restart(n), 'Restarted'));
}
