const MiB = 2 ** 20;
const GiB = 2 ** 30;

export const VM_NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;
export const IMAGE_NAME_PATTERN = /^[a-z][a-z0-9.-]{0,62}$/;
export const MACHINE_TYPES = ['q35', 'pc', 'microvm'] as const;
export const VM_DEFAULTS = { image: 'micro', cpus: 1, memory: 512 * MiB, disk: 4 * GiB, machine: 'q35' } as const;
