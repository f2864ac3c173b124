import { CPU_WEIGHT_RANGE, LodgeError, formatCpuList, parseCpuList } from '@lodge/api';
import type { CpuLimits } from '../ports/vm-driver.js';

/** The CFS period quotas are expressed in (the kernel's default, 100 ms). */
export const CFS_PERIOD_US = 100_000;

/** v1 cpu.shares from a v2-scale weight: 100 ↔ 1024 (the default of both); the kernel's minimum is 2. */
export const sharesOf = (weight: number): number => Math.max(2, Math.round((weight * 1024) / 100));

/** CFS quota per period for a percentage of one host CPU. */
export const quotaUs = (percent: number): number => Math.max(1000, Math.round((percent / 100) * CFS_PERIOD_US));

/** A nice value with the same CFS weight ratio as `weight` against 100 (each nice step is ×1.25), within -20..19. */
export const niceOf = (weight: number): number => Math.min(19, Math.max(-20, Math.round(-Math.log(weight / 100) / Math.log(1.25)))) + 0; // never -0

/** Refuses limits the host cannot honour, naming its CPUs; returns the pin in the kernel's form. */
export function checkCpuLimits(limits: CpuLimits, hostCpus: readonly number[]): { pin?: string } {
  const host = formatCpuList(hostCpus);
  const { weight, maxPercent, pin } = limits;
  if (!Number.isInteger(weight) || weight < CPU_WEIGHT_RANGE.min || weight > CPU_WEIGHT_RANGE.max) {
    throw new LodgeError('invalid_argument', `CPU weight ${weight} is out of range: give a whole number from ${CPU_WEIGHT_RANGE.min} to ${CPU_WEIGHT_RANGE.max}`, {
      hint: 'or a priority: low (25), normal (100), high (400)',
    });
  }
  const most = hostCpus.length * 100;
  if (maxPercent !== undefined && !(maxPercent >= 1 && maxPercent <= most)) {
    throw new LodgeError('invalid_argument', `CPU quota ${maxPercent}% is out of range: this host has ${hostCpus.length} CPUs (${host}), so 1% to ${most}%`, {
      hint: 'give e.g. --cpu-max 50% for half of one host CPU, or none for no quota',
    });
  }
  if (pin === undefined) return {};
  const cpus = parseCpuList(pin);
  if (typeof cpus === 'string') throw new LodgeError('invalid_argument', `CPU pin "${pin}": ${cpus}`, { hint: `this host's CPUs are ${host}` });
  const missing = cpus.filter((c) => !hostCpus.includes(c));
  if (missing.length > 0) {
    throw new LodgeError('invalid_argument', `CPU pin "${pin}" names CPU ${formatCpuList(missing)}, which this host does not have (its CPUs are ${host})`, {
      hint: `pin to CPUs within ${host}`,
    });
  }
  return { pin: formatCpuList(cpus) };
}
