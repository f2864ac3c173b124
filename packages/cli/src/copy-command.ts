import type { Command } from 'commander';
import { copyPlan } from './guest-path.js';
import type { Session } from './session.js';

/** `lodge cp`: files and folders between the host and a running VM, always recursive (like cp -r). */
export function registerCopyCommand(program: Command, session: Session): void {
  program
    .command('cp')
    .description('copy a file or folder between the host and a running VM (recursive; one side is VM:/absolute/path)')
    .usage('[options] SRC DST')
    .argument('<src>', 'host path, or VM:/path in the guest')
    .argument('<dst>', 'host path, or VM:/path in the guest; an existing folder receives SRC inside it')
    .option('-r, --recursive', 'accepted for habit: folders are always copied whole')
    .option('-q, --quiet', 'no progress and no summary')
    .option('--json', 'print {entries, files, bytes, seconds} as JSON')
    .addHelpText('after', '\nSymlinks are copied as symlinks. A host path that contains ":" is written ./like:this.')
    .action(async (src: string, dst: string, flags: { quiet?: boolean }) => {
      const plan = copyPlan(src, dst); // before any request: bad input never starts the daemon
      const client = await session.connect();
      const [{ copyFiles }, { canLendFiles }] = await Promise.all([import('./file-copy.js'), import('./file-lending.js')]);
      const lend = await canLendFiles(session.root);
      const { meter, totals } = await copyFiles(client, plan, { quiet: Boolean(flags.quiet) || session.json, lend });
      if (session.json) await session.emit(totals, () => '');
      else if (!flags.quiet) session.say(meter.summary());
    });
}
