import { z } from 'zod';
import { CPU_PRIORITIES, CPU_WEIGHT_RANGE, DISK_NAME_PATTERN, parseCpuList, formatCpuList, parsePercent } from './resource-values.js';
import { sizeField } from './size-field.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

export const CpuPriority = z.enum(Object.keys(CPU_PRIORITIES) as [keyof typeof CPU_PRIORITIES]);
export const CpuWeight = z
  .number()
  .int('the CPU weight must be a whole number')
  .min(CPU_WEIGHT_RANGE.min, `the CPU weight must be between ${CPU_WEIGHT_RANGE.min} and ${CPU_WEIGHT_RANGE.max}`)
  .max(CPU_WEIGHT_RANGE.max, `the CPU weight must be between ${CPU_WEIGHT_RANGE.min} and ${CPU_WEIGHT_RANGE.max}`);

/** A CPU quota in percent of one host CPU ("150%" = one and a half CPUs); checked against the host where it is applied. */
export const CpuMax = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const pct = parsePercent(v);
  if (typeof pct === 'string') return (ctx.addIssue({ code: 'custom', message: `cpuMax: ${pct}` }), z.NEVER);
  if (pct < 1 || pct > 6400) return (ctx.addIssue({ code: 'custom', message: `cpuMax must be between 1% and 6400% (64 host CPUs), got ${pct}%` }), z.NEVER);
  return pct;
});

/** Host CPUs the VM's QEMU may run on, kept in the kernel's "0-1,3" form; the host's own CPUs are checked where it is applied. */
export const CpuPin = z.union([z.string(), z.array(z.number().int().min(0))]).transform((v, ctx) => {
  const cpus = typeof v === 'string' ? parseCpuList(v) : [...v];
  if (typeof cpus === 'string') return (ctx.addIssue({ code: 'custom', message: `cpuPin: ${cpus}` }), z.NEVER);
  if (cpus.length === 0) return (ctx.addIssue({ code: 'custom', message: 'cpuPin names no CPU' }), z.NEVER);
  return formatCpuList(cpus);
});

const limit = (what: string) => z.number().int(`${what} must be a whole number`).min(1, `${what} must be at least 1`).max(1e12, `${what} is too large`);
export const DiskIops = limit('disk IOPS');
export const DiskBps = sizeField('disk bytes per second', 64 * 1024, 1024 * GiB);

export const DiskName = z.string().regex(DISK_NAME_PATTERN, 'a disk name starts with a lowercase letter, then up to 19 lowercase letters, digits or "-" (the guest sees it as the disk serial, 20 bytes at most)');

/** An extra disk of a VM, kept in its spec; the file is disks/<name>.qcow2 in the VM's folder. */
export const DiskSpec = z
  .object({
    name: DiskName,
    size: z.number().int().positive(),
    iops: z.number().int().positive().optional(),
    bps: z.number().int().positive().optional(),
  })
  .strict();
export type DiskSpec = z.infer<typeof DiskSpec>;

export const DiskAddRequest = z
  .object({
    name: DiskName,
    size: sizeField('size', 1 * MiB, 16 * 1024 * GiB),
    iops: DiskIops.optional(),
    bps: DiskBps.optional(),
  })
  .strict();
export type DiskAddRequest = z.input<typeof DiskAddRequest>;

/** Grow a disk and/or change its I/O limits; null clears a limit. */
export const DiskUpdateRequest = z
  .object({
    size: sizeField('size', 1 * MiB, 16 * 1024 * GiB).optional(),
    iops: DiskIops.nullable().optional(),
    bps: DiskBps.nullable().optional(),
  })
  .strict();
export type DiskUpdateRequest = z.input<typeof DiskUpdateRequest>;

export const DiskInfo = z.object({
  /** "root" for the VM's boot disk. */
  name: z.string(),
  sizeBytes: z.number(),
  /** Bytes the host file takes on disk (sparse files and discard make it smaller than the size). */
  allocatedBytes: z.number(),
  iops: z.number().optional(),
  bps: z.number().optional(),
  path: z.string(),
  /** Whether the running QEMU has it attached (false while the VM is stopped). */
  attached: z.boolean(),
});
export type DiskInfo = z.infer<typeof DiskInfo>;

