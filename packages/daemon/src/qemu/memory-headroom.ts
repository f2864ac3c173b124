import type { VmSpec } from '@lodge/api';

const MiB = 2 ** 20;

/**
 * What QEMU needs beyond the guest's RAM under the host limit. Measured here (TCG): a booted 384M guest's group
 * peaked at 517 MB, guest RAM plus 133 MB of QEMU's own; the TCG translation cache may grow up to its 128 MiB
 * cap on top (FACTS.md: 512M on a 1 GiB guest got QEMU OOM-killed). 384 MiB covers both with ~120 MiB to spare.
 */
export const QEMU_MEMORY_HEADROOM = 384 * MiB;

/** The host memory limit of a VM's cgroup: its RAM plus QEMU's own. */
export const memoryLimitOf = (spec: Pick<VmSpec, 'memory'>): number => spec.memory + QEMU_MEMORY_HEADROOM;
