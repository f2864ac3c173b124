import { z } from 'zod';
import { sizeField } from './size-field.js';
import { IMAGE_NAME_PATTERN, MACHINE_TYPES, VM_DEFAULTS, VM_NAME_PATTERN } from './vm-defaults.js';
import { CPU_PRIORITIES } from './resource-values.js';
import { CpuMax, CpuPin, CpuPriority, CpuWeight, DiskBps, DiskIops, DiskSpec } from './vm-resources.js';
import { checkFirstBoot, FirstBootFields, firstBootOf, ProvisionScriptSpec, PROVISION_NAME_PATTERN } from './first-boot.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

export const VmName = z
  .string()
  .regex(VM_NAME_PATTERN, 'a VM name starts with a lowercase letter, then up to 62 lowercase letters, digits or "-"');

export const ImageName = z
  .string()
  .regex(IMAGE_NAME_PATTERN, 'an image name starts with a lowercase letter, then lowercase letters, digits, "." or "-"');

export const MachineType = z.enum(MACHINE_TYPES);
export type MachineType = z.infer<typeof MachineType>;

/** What a user asks for at create time; unknown fields are rejected so typos are not silently ignored. */
export const VmCreateRequest = z
  .object({
    name: VmName,
    image: ImageName.default(VM_DEFAULTS.image),
    cpus: z.number().int('cpus must be a whole number').min(1, 'cpus must be at least 1').max(64, 'cpus must be at most 64').default(VM_DEFAULTS.cpus),
    memory: sizeField('memory', 64 * MiB, 1024 * GiB).default(VM_DEFAULTS.memory),
    disk: sizeField('disk', 64 * MiB, 16 * 1024 * GiB).default(VM_DEFAULTS.disk),
    machine: MachineType.default(VM_DEFAULTS.machine),
    /** A preset for cpuWeight; give one or the other. */
    cpuPriority: CpuPriority.optional(),
    cpuWeight: CpuWeight.optional(),
    cpuMax: CpuMax.optional(),
    cpuPin: CpuPin.optional(),
    /** vCPUs the VM may grow to while running (hot-add); defaults to cpus. */
    maxCpus: z.number().int().min(1).max(64).optional(),
    diskIops: DiskIops.optional(),
    diskBps: DiskBps.optional(),
    ...FirstBootFields,
  })
  .strict()
  .refine((r) => r.cpuPriority === undefined || r.cpuWeight === undefined, { message: 'give cpuPriority or cpuWeight, not both', path: ['cpuWeight'] })
  .refine((r) => r.maxCpus === undefined || r.maxCpus >= r.cpus, { message: 'maxCpus must be at least cpus', path: ['maxCpus'] })
  .superRefine(checkFirstBoot);
export type VmCreateRequest = z.input<typeof VmCreateRequest>;

/** The stored, fully resolved spec: sizes in bytes. */
export const VmSpec = z
  .object({
    name: VmName,
    image: ImageName,
    cpus: z.number().int().min(1).max(64),
    memory: z.number().int().positive(),
    disk: z.number().int().positive(),
    machine: MachineType,
    /** cgroup v2 scale (v1 cpu.shares = weight × 1024 / 100); older records have none, hence the default. */
    cpuWeight: CpuWeight.default(CPU_PRIORITIES.normal),
    /** Percent of one host CPU; absent = no quota. */
    cpuMax: z.number().positive().optional(),
    /** Host CPU list in the kernel's form ("0-1,3"); absent = any CPU. */
    cpuPin: z.string().optional(),
    maxCpus: z.number().int().min(1).max(64).optional(),
    diskIops: z.number().int().positive().optional(),
    diskBps: z.number().int().positive().optional(),
    disks: z.array(DiskSpec).default([]),
    // First boot (cloud-init NoCloud seed); older records have none, hence the defaults.
    ...FirstBootFields,
    provision: z.array(ProvisionScriptSpec.extend({ name: z.string().regex(PROVISION_NAME_PATTERN) })).default([]),
  })
  .strict();
export type VmSpec = z.infer<typeof VmSpec>;

/** `lodge set`: what may change on an existing VM; null clears an optional limit. Applied live where the VM runs. */
export const VmUpdateRequest = z
  .object({
    cpus: z.number().int('cpus must be a whole number').min(1, 'cpus must be at least 1').max(64, 'cpus must be at most 64').optional(),
    cpuPriority: CpuPriority.optional(),
    cpuWeight: CpuWeight.optional(),
    cpuMax: CpuMax.nullable().optional(),
    cpuPin: CpuPin.nullable().optional(),
    memory: sizeField('memory', 64 * MiB, 1024 * GiB).optional(),
    disk: sizeField('disk', 64 * MiB, 16 * 1024 * GiB).optional(),
    diskIops: DiskIops.nullable().optional(),
    diskBps: DiskBps.nullable().optional(),
  })
  .strict()
  .refine((r) => r.cpuPriority === undefined || r.cpuWeight === undefined, { message: 'give cpuPriority or cpuWeight, not both', path: ['cpuWeight'] })
  .refine((r) => Object.values(r).some((v) => v !== undefined), { message: 'nothing to change: give at least one setting' });
export type VmUpdateRequest = z.input<typeof VmUpdateRequest>;
export type VmUpdate = z.output<typeof VmUpdateRequest>;

/** What `lodge set` did: fields applied to the running VM now, and fields recorded for its next start. */
export const VmUpdateResult = z.object({
  live: z.array(z.string()),
  nextStart: z.array(z.string()),
  notes: z.array(z.string()),
});
export type VmUpdateResult = z.infer<typeof VmUpdateResult>;

/** The stored spec of a checked create request: presets resolved, no extra disks yet. */
export function specFromCreate(req: z.output<typeof VmCreateRequest>): VmSpec {
  const { cpuPriority, cpuWeight, hostname, user, users, packages, files, provision, ...rest } = req;
  const firstBoot = firstBootOf({ hostname, user, users, packages, files, provision });
  return { ...rest, ...firstBoot, cpuWeight: cpuWeight ?? CPU_PRIORITIES[cpuPriority ?? 'normal'], disks: [] };
}
