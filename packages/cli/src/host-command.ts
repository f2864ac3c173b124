import type { Command } from 'commander';
import { hostDetails } from './host-details.js';
import { keyValueLines } from './key-value-lines.js';
import type { Session } from './session.js';

/** `lodge host`: what this machine offers VMs, and how much of it they hold. */
export function registerHostCommand(program: Command, session: Session): void {
  program
    .command('host')
    .description('show the host: CPUs, memory, disk, QEMU, cgroups, accelerator and VM capacity')
    .option('--refresh', 'probe again instead of using the result cached for this boot')
    .option('--json', 'print the host report as JSON')
    .action(async (flags: { refresh?: boolean }) => {
      const report = await (await session.connect()).host({ refresh: Boolean(flags.refresh) });
      await session.emit(report, () => keyValueLines(hostDetails(report)));
    });
}
