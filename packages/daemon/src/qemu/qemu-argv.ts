import type { Accelerator, MachineType, VmSpec } from '@lodge/api';
import { option } from './qemu-option.js';

export interface BootFiles {
  kernel: string;
  initrd: string;
  cmdline: string;
}

export interface VmFiles {
  disk: string;
  qmp: string;
  console: string;
  consoleLog: string;
  pid: string;
}

export interface ArgvInput {
  spec: VmSpec;
  boot: BootFiles;
  files: VmFiles;
  accelerator: Accelerator;
  /** Host TSC frequency; microvm guests need it to skip a calibration that sometimes hangs. */
  hostKhz?: number;
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

/** The guest's hardware: everything both `lodge start` and the raw-QEMU baseline share. */
export function hardwareArgv(input: Omit<ArgvInput, 'files'> & { disk: string }): string[] {
  const { spec, boot, accelerator } = input;
  const m = MACHINE[spec.machine];
  const cmdline = spec.machine === 'microvm' && input.hostKhz ? `${boot.cmdline} tsc_early_khz=${input.hostKhz}` : boot.cmdline;
  return [
    '-nodefaults', '-no-user-config', '-display', 'none',
    '-machine', m.machine,
    '-accel', accelerator === 'kvm' ? 'kvm' : option('tcg', { thread: 'multi', 'tb-size': TCG_TB_SIZE_MIB }),
    '-cpu', CPU_MODEL[accelerator],
    '-smp', String(spec.cpus),
    '-m', `${Math.ceil(spec.memory / 2 ** 20)}M`,
    '-kernel', boot.kernel,
    '-initrd', boot.initrd,
    '-append', cmdline,
    '-drive', option(`file=${input.disk}`, { if: 'none', id: 'root', format: 'qcow2', discard: 'unmap' }),
    '-device', option(`virtio-blk-${m.bus}`, { drive: 'root' }),
    '-netdev', 'user,id=net0',
    '-device', option(`virtio-net-${m.bus}`, { netdev: 'net0' }),
  ];
}

/** Full argv for a supervised VM: paused (-S), daemonized so it outlives lodged, QMP and console on sockets. */
export function buildArgv(input: ArgvInput): string[] {
  const { files, spec } = input;
  return [
    '-name', option(spec.name, { 'debug-threads': true }),
    ...hardwareArgv({ ...input, disk: files.disk }),
    '-chardev', option('socket', { id: 'console', path: files.console, server: true, wait: false, logfile: files.consoleLog, logappend: true }),
    '-serial', 'chardev:console',
    '-chardev', option('socket', { id: 'qmp', path: files.qmp, server: true, wait: false }),
    '-mon', 'chardev=qmp,mode=control',
    '-pidfile', files.pid,
    '-daemonize',
    '-S',
  ];
}
