import type { VmSpec } from '@lodge/api';

// How long and how much lodge start follows a guest's provisioning report: a guest must not hang a start or fill memory.

export interface WatchLimits {
  pollMs: number;
  /** The progress file must appear this soon after the guest is ready (the provisioner starts at boot). */
  firstReportMs: number;
  /** Bytes asked per read; also what the daemon holds at most (plus one pending line). */
  readBytes: number;
  /** A report past this size is a guest gone wrong (records are small; only a failure carries output). */
  maxReportBytes: number;
  maxRecords: number;
  maxGarbageLines: number;
}

export const WATCH_LIMITS: WatchLimits = {
  pollMs: 500, firstReportMs: 180_000, readBytes: 64 * 1024, maxReportBytes: 4 * 2 ** 20, maxRecords: 4096, maxGarbageLines: 100,
};

/** Seconds of room for the steps besides scripts and packages (seed, users, files), and for packages (apt under TCG). */
const BASE_ROOM_S = 300;
const PACKAGES_ROOM_S = 900;
const PER_PACKAGE_S = 60;

/** The longest a start follows provisioning: every script's timeout, plus room for packages and the rest. */
export function provisionDeadlineSec(spec: Pick<VmSpec, 'provision' | 'packages'>): number {
  const scripts = spec.provision.reduce((n, p) => n + p.timeout, 0);
  const packages = spec.packages.length === 0 ? 0 : PACKAGES_ROOM_S + PER_PACKAGE_S * spec.packages.length;
  return BASE_ROOM_S + scripts + packages;
}
