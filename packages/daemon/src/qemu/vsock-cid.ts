import { createHash, randomInt } from 'node:crypto';
import { LodgeError, type MachineType } from '@lodge/api';
import { option } from './qemu-option.js';

/** 0-2 are reserved (hypervisor, local, host); a 31-bit range keeps clear of VMADDR_CID_ANY (2^32 - 1). */
export const MIN_GUEST_CID = 3;
export const MAX_GUEST_CID = 2 ** 31 - 1;
/** QEMU's start-up failure when another VM on the host (of any daemon, or no Lodge at all) holds the CID. */
const CID_IN_USE = /unable to set guest cid: Address already in use/;
export const CID_ATTEMPTS = 8;

/**
 * The CID first tried for a VM: a hash of the data folder and the VM's name, so a VM usually keeps its CID across
 * starts and two daemons' VMs rarely meet. Asking the kernel first takes an ioctl (libvirt calls
 * VHOST_VSOCK_SET_GUEST_CID on its own vhost fd), which Node cannot make, so QEMU finds a collision and we retry.
 */
export function preferredCid(dataRoot: string, vm: string): number {
  const n = createHash('sha256').update(`${dataRoot}\0${vm}`).digest().readUInt32BE(0);
  return MIN_GUEST_CID + (n % (MAX_GUEST_CID - MIN_GUEST_CID + 1));
}

export const randomCid = (): number => randomInt(MIN_GUEST_CID, MAX_GUEST_CID + 1);

/** `-device vhost-vsock-pci` (q35, pc) or the virtio-mmio `vhost-vsock-device` (microvm, no PCI). */
export function vsockArgv(cid: number, machine: MachineType): string[] {
  const driver = machine === 'microvm' ? 'vhost-vsock-device' : 'vhost-vsock-pci';
  return ['-device', option(driver, { id: 'vsock0', 'guest-cid': cid })];
}

/** The CID in a running QEMU's argv (re-attach after a daemon restart); undefined when it has no vsock device. */
export function cidFromArgv(argv: readonly string[]): number | undefined {
  for (const a of argv) {
    const m = /^vhost-vsock-(?:pci|device),(?:.*,)?guest-cid=(\d+)(?:,|$)/.exec(a);
    if (m) return Number(m[1]);
  }
  return undefined;
}

/** Runs `launch` with the first CID, and again with fresh ones while QEMU says the CID is taken. */
export async function launchWithFreeCid<T>(first: number, launch: (cid: number) => Promise<T>, next: () => number = randomCid, attempts = CID_ATTEMPTS): Promise<{ cid: number; value: T }> {
  const tried: number[] = [];
  for (let cid = first; tried.length < attempts; cid = next()) {
    if (tried.includes(cid)) continue;
    tried.push(cid);
    try {
      return { cid, value: await launch(cid) };
    } catch (err) {
      if (!CID_IN_USE.test((err as Error).message)) throw err;
    }
  }
  throw new LodgeError('qemu_failed', `every vsock CID tried was in use on this host (${tried.join(', ')})`, {
    hint: 'another program holds them; stop VMs you no longer need, or unload vhost_vsock to run without vsock',
  });
}
