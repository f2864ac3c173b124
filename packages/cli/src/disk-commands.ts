import type { Command } from 'commander';
import { formatSize, type DiskInfo } from '@lodge/api/lite';
import { sizeFlag, UsageError, wholeNumberFlag } from './flag-values.js';
import type { Session } from './session.js';
import { renderTable } from './text-table.js';

interface LimitFlags {
  iops?: string;
  bps?: string;
}

const limits = (flags: LimitFlags, clearable: boolean): { iops?: number | null; bps?: number | null } => {
  const out: { iops?: number | null; bps?: number | null } = {};
  const none = (flag: string, v: string): boolean => {
    if (v !== 'none') return false;
    if (!clearable) throw new UsageError(`${flag} "none" is only for lodge disk set; leave the flag out instead`);
    return true;
  };
  if (flags.iops !== undefined) out.iops = none('--iops', flags.iops) ? null : wholeNumberFlag('--iops', flags.iops, { min: 1 });
  if (flags.bps !== undefined) out.bps = none('--bps', flags.bps) ? null : sizeFlag('--bps', flags.bps);
  return out;
};

const limitText = (d: DiskInfo): string =>
  [d.iops ? `${d.iops} IOPS` : '', d.bps ? `${formatSize(d.bps)}/s` : ''].filter(Boolean).join(', ') || '-';

export const diskRows = (disks: DiskInfo[]): string[][] =>
  disks.map((d) => [d.name, formatSize(d.sizeBytes), formatSize(d.allocatedBytes), limitText(d), d.attached ? 'yes' : 'no', d.path]);

/** `lodge disk add|rm|list|set`: extra disks, hot-plugged while the VM runs. */
export function registerDiskCommands(program: Command, session: Session): void {
  const disk = program.command('disk').description("a VM's disks: add, remove, list, grow and limit them (live while it runs)");

  disk
    .command('add')
    .description('add a disk to a VM (hot-plugged if it runs); the guest sees it as a virtio disk with serial DISK')
    .argument('<vm>', 'VM name')
    .argument('<disk>', 'disk name: a lowercase letter, then lowercase letters, digits or "-"')
    .requiredOption('--size <size>', 'size, e.g. 1G')
    .option('--iops <n>', 'I/O operations per second limit')
    .option('--bps <size>', 'bytes per second limit, e.g. 50M')
    .option('--json', 'print the disk as JSON')
    .action(async (vm: string, name: string, flags: LimitFlags & { size: string }) => {
      const req = { name, size: sizeFlag('--size', flags.size), ...limits(flags, false) } as { name: string; size: number; iops?: number; bps?: number };
      const info = await (await session.connect()).addDisk(vm, req);
      await session.emit(info, () => `Added disk ${info.name} (${formatSize(info.sizeBytes)}) to ${vm}${info.attached ? ', attached live' : ''}`);
    });

  disk
    .command('rm')
    .description('remove a disk from a VM (unplugged first if it runs) and delete its file')
    .argument('<vm>', 'VM name')
    .argument('<disk>', 'disk name')
    .option('--json', 'print {"deleted": DISK} as JSON')
    .action(async (vm: string, name: string) => {
      const out = await (await session.connect()).removeDisk(vm, name);
      await session.emit(out, () => `Removed disk ${name} from ${vm}`);
    });

  disk
    .command('list')
    .alias('ls')
    .description("a VM's disks: root and extra ones, with size, space used on the host and limits")
    .argument('<vm>', 'VM name')
    .option('--json', 'print the disks as JSON')
    .action(async (vm: string) => {
      const disks = await (await session.connect()).disks(vm);
      await session.emit(disks, () => renderTable(['DISK', 'SIZE', 'ON HOST', 'LIMITS', 'ATTACHED', 'FILE'], diskRows(disks)));
    });

  disk
    .command('set')
    .description('grow an extra disk or change its I/O limits (live while the VM runs); the root disk: lodge set VM --disk')
    .argument('<vm>', 'VM name')
    .argument('<disk>', 'disk name')
    .option('--size <size>', 'new, larger size')
    .option('--iops <n>', 'I/O operations per second limit, or "none"')
    .option('--bps <size>', 'bytes per second limit, or "none"')
    .option('--json', 'print {disk, notes} as JSON')
    .action(async (vm: string, name: string, flags: LimitFlags & { size?: string }) => {
      const req = { ...(flags.size !== undefined ? { size: sizeFlag('--size', flags.size) } : {}), ...limits(flags, true) };
      if (Object.keys(req).length === 0) throw new UsageError('nothing to change: give --size, --iops or --bps', 'see: lodge disk set --help');
      const out = await (await session.connect()).updateDisk(vm, name, req);
      await session.emit(out, () => [`Disk ${name} of ${vm}: ${formatSize(out.disk.sizeBytes)}, limits ${limitText(out.disk)}`, ...out.notes.map((n) => `  note: ${n}`)].join('\n'));
    });
}
