import type { Command } from 'commander';
import type { GuestStatus } from '@lodge/api/lite';
import type { LodgeClient } from '@lodge/client';
import { guestSection, type VmWithGuest } from './guest-details.js';
import { keyValueLines } from './key-value-lines.js';
import type { Session } from './session.js';
import { renderTable } from './text-table.js';
import { vmDetails } from './vm-details.js';
import { vmTable } from './vm-table.js';

/** The guest's own report for `lodge info`; a failure becomes a note there instead of failing the command. */
async function guestStatus(client: LodgeClient, vm: VmWithGuest): Promise<{ status: GuestStatus; failed: boolean }> {
  try {
    return { status: await client.guest(vm.name), failed: false };
  } catch (err) {
    const note = `the guest could not be asked: ${err instanceof Error ? err.message : String(err)}`;
    return { status: { state: vm.guest?.state ?? 'none', via: vm.guest?.via, version: vm.guest?.version, note }, failed: true };
  }
}

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
      const client = await session.connect();
      const vm: VmWithGuest = await client.get(name);
      const status = vm.state === 'running' ? await guestStatus(client, vm) : undefined;
      // --json: the VM as before, plus guestStatus when the guest was asked.
      const data = status && !status.failed ? { ...vm, guestStatus: status.status } : vm;
      await session.emit(data, () => {
        const details = keyValueLines(vmDetails(vm).filter(([key]) => !(status && key === 'guest')));
        return status ? `${details}\n\n${guestSection(status.status)}` : details;
      });
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
