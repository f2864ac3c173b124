import { join } from 'node:path';
import { LodgeError, type Accelerator, type ImageEntry, type MachineType, type VmSpec } from '@lodge/api';
import { AGENT_PORT_NAME, QGA_PORT_NAME } from '@lodge/api/guest';
import { extraDiskFile } from '../sys/data-folder.js';
import { extraDisksArgv, rootDiskArgv, seedDiskArgv } from './disk-argv.js';
import { balloonArgv, smpOption, tcgThread } from './guest-argv.js';
import { option } from './qemu-option.js';
import { vsockArgv } from './vsock-cid.js';

/** A kernel booted directly; a VM without one boots from its disk through the firmware. */
export interface BootFiles {
  kernel: string;
  initrd?: string;
  cmdline: string;
}

export interface VmFiles {
  disk: string;
  qmp: string;
  console: string;
  consoleLog: string;
  pid: string;
  /** The Lodge agent's virtio-serial port (guest: /dev/virtio-ports/org.lodge.agent.0). */
  agent: string;
  /** The QEMU guest agent's virtio-serial port (guest: /dev/virtio-ports/org.qemu.guest_agent.0). */
  qga: string;
  /** The folder of the extra disks (disks/<disk>.qcow2). */
  disks: string;
  /** The NoCloud seed disk, when the image reads one. */
  seed?: string;
}

export interface ArgvInput {
  spec: VmSpec;
  /** Undefined: SeaBIOS boots the root disk's own bootloader. */
  boot: BootFiles | undefined;
  files: VmFiles;
  accelerator: Accelerator;
  /** Host TSC frequency; microvm guests need it to skip a calibration that sometimes hangs. */
  hostKhz?: number;
  /** The guest's vsock CID where the host has vhost-vsock; no vsock device when undefined. */
  vsockCid?: number;
}

/**
 * The CPU model per accelerator; the KVM probe boots with the same one, so a passing probe means VMs run.
 * Under TCG, Nehalem (x86-64-v2, which RHEL 9-like guests require) boots ~0.9 s faster than `max`.
 */
export const CPU_MODEL: Record<Accelerator, string> = { kvm: 'host', tcg: 'Nehalem' };

/** TCG's translation cache, in MiB: the default (1 GiB) would make each idle VM's QEMU large. */
export const TCG_TB_SIZE_MIB = 128;

const MACHINE: Record<MachineType, { machine: string; bus: 'pci' | 'device' }> = {
  q35: { machine: 'q35', bus: 'pci' },
  pc: { machine: 'pc', bus: 'pci' },
  microvm: { machine: 'microvm,rtc=on', bus: 'device' },
};

/** The image's kernel files as absolute paths; undefined when the image boots from its disk. */
export function bootFilesOf(image: ImageEntry): BootFiles | undefined {
  if (image.kernel === undefined) return undefined;
  return {
    kernel: join(image.folder, image.kernel),
    initrd: image.initrd === undefined ? undefined : join(image.folder, image.initrd),
    cmdline: image.kernelCmdline,
  };
}

/**
 * Added to a direct-boot kernel's command line under TCG. An emulated CPU runs the guest's code without speculating,
 * so the guest's Spectre/Meltdown mitigations guard nothing there, while PTI's page-table switch at every system
 * call makes TCG flush its whole software TLB: with them off, a /bin/true spawn in the micro guest took 2.8 ms, not 4.9.
 */
export const TCG_KERNEL_ARGS = 'mitigations=off';

/** -kernel/-initrd/-append for direct boot; nothing for a disk boot, which microvm cannot do (no BIOS disk boot in its firmware). */
export function bootArgv(boot: BootFiles | undefined, machine: MachineType, opts: { hostKhz?: number; accelerator?: Accelerator; hostname?: string } = {}): string[] {
  if (!boot) {
    if (machine !== 'microvm') return [];
    throw new LodgeError('invalid_argument', 'a microvm VM cannot boot from its disk: its firmware only starts a kernel given to QEMU', {
      hint: 'use --machine q35 (or pc) for an image without a kernel, or import the image with --kernel',
    });
  }
  const extra = [
    // The micro image names itself after it (its rcS); a kernel ignores an option with a dot that no module claims.
    ...(opts.hostname ? [`lodge.hostname=${opts.hostname}`] : []),
    ...(opts.accelerator === 'tcg' ? [TCG_KERNEL_ARGS] : []),
    ...(machine === 'microvm' && opts.hostKhz ? [`tsc_early_khz=${opts.hostKhz}`] : []),
  ];
  const cmdline = [boot.cmdline, ...extra].join(' ');
  return ['-kernel', boot.kernel, ...(boot.initrd ? ['-initrd', boot.initrd] : []), '-append', cmdline];
}

/** The guest's hardware: everything both `lodge start` and the raw-QEMU baseline share. */
export function hardwareArgv(input: Omit<ArgvInput, 'files'> & { disk: string }): string[] {
  const { spec, boot, accelerator } = input;
  const m = MACHINE[spec.machine];
  return [
    '-nodefaults', '-no-user-config', '-display', 'none',
    '-machine', m.machine,
    '-accel', accelerator === 'kvm' ? 'kvm' : option('tcg', { thread: tcgThread(spec), 'tb-size': TCG_TB_SIZE_MIB }),
    '-cpu', CPU_MODEL[accelerator],
    '-smp', smpOption(spec, accelerator),
    '-m', `${Math.ceil(spec.memory / 2 ** 20)}M`,
    ...bootArgv(boot, spec.machine, { hostKhz: input.hostKhz, accelerator, hostname: spec.name }),
    ...rootDiskArgv(input.disk, m.bus, { iops: spec.diskIops, bps: spec.diskBps }),
    '-netdev', 'user,id=net0',
    '-device', option(`virtio-net-${m.bus}`, { netdev: 'net0' }),
    ...balloonArgv(spec.machine),
  ];
}

/**
 * The guest-agent channels: one virtio-serial controller with two named ports, each on a listening unix
 * socket in the VM folder. They are supervision sockets like QMP, so they are here and not in hardwareArgv.
 * A raw-QEMU baseline that drops the -chardev options must drop the `-device virtserialport,...,chardev=` that
 * name them too (QEMU refuses a port whose chardev is missing); its guest finds no ports and its agents wait.
 */
export function agentChannelArgv(files: Pick<VmFiles, 'agent' | 'qga'>, machine: MachineType): string[] {
  const port = (id: string, path: string, name: string): string[] => [
    '-chardev', option('socket', { id, path, server: true, wait: false }),
    '-device', option('virtserialport', { bus: 'vser0.0', chardev: id, name }),
  ];
  return [
    '-device', option(`virtio-serial-${MACHINE[machine].bus}`, { id: 'vser0' }),
    ...port('agent', files.agent, AGENT_PORT_NAME),
    ...port('qga', files.qga, QGA_PORT_NAME),
  ];
}

/** Full argv for a supervised VM: paused (-S), daemonized so it outlives lodged, QMP, console and agent ports on sockets. */
export function buildArgv(input: ArgvInput): string[] {
  const { files, spec } = input;
  return [
    '-name', option(spec.name, { 'debug-threads': true }),
    ...hardwareArgv({ ...input, disk: files.disk }),
    ...(files.seed ? seedDiskArgv(files.seed, MACHINE[spec.machine].bus) : []),
    ...extraDisksArgv(spec, (disk) => extraDiskFile(files.disks, disk)),
    '-chardev', option('socket', { id: 'console', path: files.console, server: true, wait: false, logfile: files.consoleLog, logappend: true }),
    '-serial', 'chardev:console',
    '-chardev', option('socket', { id: 'qmp', path: files.qmp, server: true, wait: false }),
    '-mon', 'chardev=qmp,mode=control',
    ...agentChannelArgv(files, spec.machine),
    ...(input.vsockCid !== undefined ? vsockArgv(input.vsockCid, spec.machine) : []),
    '-pidfile', files.pid,
    '-daemonize',
    '-S',
  ];
}
