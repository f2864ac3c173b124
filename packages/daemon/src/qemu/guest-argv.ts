import { availableParallelism } from 'node:os';
import type { MachineType, VmSpec } from '@lodge/api';
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

/** vCPU slots when the spec names none: the host's CPUs (more would only queue), and never fewer than booted. */
export function defaultMaxCpus(cpus: number, hostCpus = availableParallelism()): number {
  return Math.max(cpus, Math.min(hostCpus, 64));
}

/** `-smp`: q35 and pc get free slots for live hot-add; microvm has no CPU hotplug, so no slots. */
export function smpOption(spec: Pick<VmSpec, 'cpus' | 'maxCpus' | 'machine'>, hostCpus?: number): string {
  if (spec.machine === 'microvm') return String(spec.cpus);
  return option(`cpus=${spec.cpus}`, { maxcpus: spec.maxCpus ?? defaultMaxCpus(spec.cpus, hostCpus) });
}
