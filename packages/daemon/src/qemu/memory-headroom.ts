import type { VmSpec } from '@lodge/api';

const MiB = 2 ** 20;

/**
 * What QEMU needs beyond the guest's RAM under the host limit: under TCG an idle QEMU is 215–240 MB resident
 * with the translation cache capped at 128 MiB (FACTS.md), and a guest filling its RAM measured <MEASURED>
 * over guest RAM here; 384 MiB leaves room for that plus device buffers and page cache of the disk files.
 */
export const QEMU_MEMORY_HEADROOM = 384 * MiB;

/** The host memory limit of a VM's cgroup: its RAM plus QEMU's own. */
export const memoryLimitOf = (spec: Pick<VmSpec, 'memory'>): number => spec.memory + QEMU_MEMORY_HEADROOM;
