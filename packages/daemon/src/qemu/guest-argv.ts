import { availableParallelism } from 'node:os';
import type { Accelerator, MachineType, VmSpec } from '@lodge/api';
import { option } from './qemu-option.js';

/** The balloon's QEMU id; its QOM path is what stats polling and `guest-stats` address. */
export const BALLOON_ID = 'balloon0';
export const BALLOON_QOM_PATH = `/machine/peripheral/${BALLOON_ID}`;

/**
 * Free page reporting hands pages the guest frees back to the host. deflate-on-oom stays off: with it the guest
 * counts ballooned pages as its own and MemTotal would not follow the target.
 */
export function balloonArgv(machine: MachineType): string[] {
  const driver = machine === 'microvm' ? 'virtio-balloon-device' : 'virtio-balloon-pci';
  return ['-device', option(driver, { id: BALLOON_ID, 'free-page-reporting': true })];
}

/**
 * vCPU slots when the spec names none: the host's CPUs (more would only queue), never fewer than booted. Under TCG
 * a multi-vCPU guest gets none: slots cost it multi-threaded TCG (see tcgThread).
 */
export function defaultMaxCpus(cpus: number, accelerator: Accelerator, hostCpus = availableParallelism()): number {
  if (accelerator === 'tcg' && cpus > 1) return cpus;
  return Math.max(cpus, Math.min(hostCpus, 64));
}

type SmpSpec = Pick<VmSpec, 'cpus' | 'maxCpus' | 'machine'>;
const maxCpusOf = (spec: SmpSpec, accelerator: Accelerator, hostCpus?: number): number =>
  spec.machine === 'microvm' ? spec.cpus : (spec.maxCpus ?? defaultMaxCpus(spec.cpus, accelerator, hostCpus));

/** `-smp`: q35 and pc get free slots for live hot-add; microvm has no CPU hotplug, so no slots. */
export function smpOption(spec: SmpSpec, accelerator: Accelerator, hostCpus?: number): string {
  if (spec.machine === 'microvm') return String(spec.cpus);
  return option(`cpus=${spec.cpus}`, { maxcpus: maxCpusOf(spec, accelerator, hostCpus) });
}

/**
 * QEMU 7.2's multi-threaded TCG aborts on vCPU hot-add once the running vCPUs have taken every translation-cache
 * region (tcg_region_initial_alloc assertion). Single-threaded TCG has one shared region, so a VM with free
 * slots runs its vCPUs round-robin on one host thread instead.
 */
export function tcgThread(spec: SmpSpec, hostCpus?: number): 'single' | 'multi' {
  return maxCpusOf(spec, 'tcg', hostCpus) > spec.cpus ? 'single' : 'multi';
}
