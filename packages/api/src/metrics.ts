import { z } from 'zod';

/** One sample of a running VM, taken by the daemon every few seconds and kept for the retention window. */
export const VmSample = z.object({
  vm: z.string(),
  time: z.string(),
  /** Host CPU time of the VM's cgroup (or its QEMU process where there is no cgroup), cumulative, in seconds. */
  cpuSeconds: z.number(),
  /** Share of one host CPU over the interval before this sample (100 = one CPU busy). */
  cpuPercent: z.number(),
  vcpus: z.number(),
  /** Resident memory of QEMU on the host (guest RAM it has touched, plus QEMU itself). */
  qemuRssBytes: z.number(),
  /** The host limit on the VM's cgroup, if any. */
  memoryLimitBytes: z.number().optional(),
  /** Guest RAM after the balloon (what the guest may use now). */
  balloonBytes: z.number().optional(),
  /** As the guest sees it (balloon statistics, else the guest agent). */
  guestMemTotalBytes: z.number().optional(),
  guestMemAvailableBytes: z.number().optional(),
  diskReadBytes: z.number(),
  diskWriteBytes: z.number(),
  diskReadOps: z.number(),
  diskWriteOps: z.number(),
  netRxBytes: z.number().optional(),
  /**
   * When the guest agent was last asked (its memory view and network counters are that old): asking costs the
   * guest CPU (≈50 ms under TCG), so it happens every `metrics.guestInterval`, not every sample.
   */
  guestTime: z.string().optional(),
  netTxBytes: z.number().optional(),
});
export type VmSample = z.infer<typeof VmSample>;

export const HostUsage = z.object({
  /** Sum over running VMs: host CPUs' worth of time they use now (100 = one CPU). */
  cpuPercent: z.number(),
  /** Sum of the VMs' QEMU resident memory. */
  memoryBytes: z.number(),
});
export type HostUsage = z.infer<typeof HostUsage>;
