import type { VmSample } from '@lodge/api';
import type { RuntimeSample } from '../ports/vm-driver.js';
import type { GuestUsage } from './guest-service.js';

/** The CPU counter at the previous round, to turn cumulative CPU time into a rate. */
export interface CpuMark {
  cpuNs: number;
  atMs: number;
}

export interface SampleInputs {
  vm: string;
  atMs: number;
  raw: RuntimeSample;
  previous: CpuMark;
  /** The spec's vCPUs, for runtimes that cannot count them live. */
  specCpus: number;
  guest?: GuestUsage & { atMs: number };
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

/** A runtime reading plus the guest's own view → the stored sample; fields nobody measured are left out. */
export function toVmSample(i: SampleInputs): VmSample {
  const wallNs = (i.atMs - i.previous.atMs) * 1e6;
  const cpuPercent = wallNs > 0 ? Math.max(0, ((i.raw.cpuNs - i.previous.cpuNs) / wallNs) * 100) : 0;
  const sum = (key: 'readBytes' | 'writeBytes' | 'readOps' | 'writeOps'): number => i.raw.disks.reduce((t, d) => t + d[key], 0);
  const guestMem = i.raw.guestMem ?? i.guest?.memory;
  const sample: VmSample = {
    vm: i.vm,
    time: new Date(i.atMs).toISOString(),
    cpuSeconds: i.raw.cpuNs / 1e9,
    cpuPercent: round1(cpuPercent),
    vcpus: i.raw.vcpus > 0 ? i.raw.vcpus : i.specCpus,
    qemuRssBytes: i.raw.rssBytes,
    diskReadBytes: sum('readBytes'),
    diskWriteBytes: sum('writeBytes'),
    diskReadOps: sum('readOps'),
    diskWriteOps: sum('writeOps'),
  };
  if (i.raw.memoryLimitBytes !== undefined) sample.memoryLimitBytes = i.raw.memoryLimitBytes;
  if (i.raw.balloonBytes !== undefined) sample.balloonBytes = i.raw.balloonBytes;
  if (guestMem) {
    sample.guestMemTotalBytes = guestMem.totalBytes;
    sample.guestMemAvailableBytes = guestMem.availableBytes;
  }
  if (i.guest?.net) {
    sample.netRxBytes = i.guest.net.rxBytes;
    sample.netTxBytes = i.guest.net.txBytes;
  }
  if (i.guest) sample.guestTime = new Date(i.guest.atMs).toISOString();
  return sample;
}
