import type { Command } from 'commander';
import { sizeFlag, UsageError, wholeNumberFlag } from './flag-values.js';

/** The resource flags of `lodge create` and `lodge set`, as commander hands them over. */
export interface ResourceFlags {
  cpuPriority?: string;
  cpuWeight?: string;
  cpuMax?: string;
  cpuPin?: string;
  maxCpus?: string;
  diskIops?: string;
  diskBps?: string;
}

export const RESOURCE_FLAG_OF: Record<string, string> = {
  cpuPriority: '--cpu-priority', cpuWeight: '--cpu-weight', cpuMax: '--cpu-max', cpuPin: '--cpu-pin',
  maxCpus: '--max-cpus', diskIops: '--disk-iops', diskBps: '--disk-bps',
};

/** Adds the flags; `clearable` (lodge set) lets limits be removed with "none". */
export function resourceOptions(cmd: Command, opts: { clearable: boolean; create: boolean }): Command {
  const none = opts.clearable ? ', or "none" to remove it' : '';
  cmd
    .option('--cpu-priority <level>', 'CPU priority against other VMs: low, normal or high (weights 25, 100, 400)')
    .option('--cpu-weight <n>', 'CPU weight 1-10000 (100 is normal); the host splits contended CPU time by weight')
    .option('--cpu-max <percent>', `CPU quota in host CPUs, e.g. 50% or 150%${none}`)
    .option('--cpu-pin <cpus>', `host CPUs the VM may run on, e.g. 0-1 or 0,2${none}`);
  if (opts.create) cmd.option('--max-cpus <n>', 'vCPUs the VM may grow to while running (lodge set --cpus)');
  return cmd
    .option('--disk-iops <n>', `I/O operations per second limit of the root disk${none}`)
    .option('--disk-bps <size>', `bytes per second limit of the root disk, e.g. 50M${none}`);
}

type Fields = Record<string, string | number | null>;

/** Flag strings → request fields; "none" → null where clearable. The wire schema checks ranges afterwards. */
export function resourceFields(flags: ResourceFlags, opts: { clearable: boolean }): Fields {
  const out: Fields = {};
  const clear = (flag: string, v: string): boolean => {
    if (v !== 'none') return false;
    if (!opts.clearable) throw new UsageError(`${flag} "none" is only for lodge set (remove a limit); at create, leave the flag out`);
    return true;
  };
  if (flags.cpuPriority !== undefined) out.cpuPriority = flags.cpuPriority;
  if (flags.cpuWeight !== undefined) out.cpuWeight = wholeNumberFlag('--cpu-weight', flags.cpuWeight, { min: 1, max: 10_000 });
  if (flags.cpuMax !== undefined) out.cpuMax = clear('--cpu-max', flags.cpuMax) ? null : flags.cpuMax;
  if (flags.cpuPin !== undefined) out.cpuPin = clear('--cpu-pin', flags.cpuPin) ? null : flags.cpuPin;
  if (flags.maxCpus !== undefined) out.maxCpus = wholeNumberFlag('--max-cpus', flags.maxCpus, { min: 1, max: 64 });
  if (flags.diskIops !== undefined) out.diskIops = clear('--disk-iops', flags.diskIops) ? null : wholeNumberFlag('--disk-iops', flags.diskIops, { min: 1 });
  if (flags.diskBps !== undefined) out.diskBps = clear('--disk-bps', flags.diskBps) ? null : sizeFlag('--disk-bps', flags.diskBps);
  return out;
}
