import type { Command } from 'commander';
import { keyValueLines } from './key-value-lines.js';
import type { Session } from './session.js';
import { renderTable } from './text-table.js';
import { vmDetails } from './vm-details.js';
import { vmTable } from './vm-table.js';

/** list, info and logs: read-only views of VMs. */
export function registerInspectCommands(program: Command, session: Session): void {
  program
    .command('list')
    .alias('ls')
    .description('list VMs')
    .option('--json', 'print the VMs as JSON')
    .action(async () => {
      const vms = await (await session.connect()).list();
      await session.emit(vms, () => {
        if (vms.length === 0) return 'No VMs; create one with: lodge create NAME';
        const { head, rows } = vmTable(vms);
        return renderTable(head, rows);
      });
    });

  program
    .command('info')
    .description('show one VM')
    .argument('<name>', 'VM name')
    .option('--json', 'print the VM as JSON')
    .action(async (name: string) => {
      const vm = await (await session.connect()).get(name);
      await session.emit(vm, () => keyValueLines(vmDetails(vm)));
    });

  program
    .command('logs')
    .description("print a VM's console log")
    .argument('<name>', 'VM name')
    .option('-f, --follow', 'keep printing what the console writes, until Ctrl-C')
    .action(async (name: string, flags: { follow?: boolean }) => {
      const client = await session.connect();
      const abort = new AbortController();
      const stop = (): void => abort.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await client.logs(name, { follow: Boolean(flags.follow), signal: abort.signal, onData: (chunk) => process.stdout.write(chunk) });
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}
