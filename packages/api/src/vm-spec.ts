import { z } from 'zod';
import { sizeField } from './size-field.js';
import { IMAGE_NAME_PATTERN, MACHINE_TYPES, VM_DEFAULTS, VM_NAME_PATTERN } from './vm-defaults.js';

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
  })
  .strict();
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
  })
  .strict();
export type VmSpec = z.infer<typeof VmSpec>;
