import { formatSize, type HostReport } from '@lodge/api/lite';
import type { Pair } from './key-value-lines.js';

const withNote = (text: string, note: string | undefined): string => (note ? `${text} (${note})` : text);

/** What `lodge host` shows: the host, what QEMU can use on it, and how much of it VMs hold. */
export function hostDetails(h: HostReport): Pair[] {
  const { memory, cpus, vms } = h.capacity;
  const qemu = h.qemu.system ? [h.qemu.system, h.qemu.version].filter(Boolean).join(' ') : 'not found';
  const cgroup = h.cgroup.version === 'none'
    ? 'none'
    : `${h.cgroup.version}, controllers: ${h.cgroup.controllers.join(' ') || 'none'}, ${h.cgroup.writable ? 'writable' : 'not writable'}`;
  return [
    ['cpus', `${h.cpus.count} (${h.cpus.model})`],
    ['memory', `${formatSize(h.memory.totalBytes)} total, ${formatSize(h.memory.availableBytes)} available`],
    ['disk', `${formatSize(h.disk.freeBytes)} free of ${formatSize(h.disk.totalBytes)} at ${h.disk.path}`],
    ['qemu', withNote(qemu, h.qemu.note)],
    ['qemu-img', h.qemu.img],
    ['cgroup', withNote(cgroup, h.cgroup.note)],
    ['limits', limitsLine(h)],
    ['accelerator', withNote(h.accelerator, h.acceleratorNote)],
    ['vsock', h.vsock && withNote(h.vsock.available ? 'yes' : 'no', h.vsock.note)],
    ['memory committed', `${formatSize(memory.committedBytes)} of ${formatSize(memory.limitBytes)} (overcommit ${memory.overcommit}x)`],
    ['vCPUs committed', `${cpus.committed} of ${cpus.limit} (overcommit ${cpus.overcommit}x)`],
    ['in use', h.usage && `${h.usage.cpuPercent.toFixed(1)}% of one CPU, ${formatSize(h.usage.memoryBytes)} QEMU memory (latest samples)`],
    ['VMs', `${vms.active} active, ${vms.total} total`],
    ['probed', h.probedAt],
  ];
}

/** How CPU and memory limits reach the VMs on this host. */
function limitsLine(h: HostReport): string {
  const mode = h.cgroup.mode ?? (h.cgroup.writable && h.cgroup.version !== 'none' ? 'cgroup' : 'nice');
  return mode === 'cgroup'
    ? `a cgroup ${h.cgroup.version} group per VM: CPU weight, quota and pinning, memory limit (guest RAM plus QEMU's own)`
    : 'nice on QEMU for CPU weight only: CPU quota, pinning and the host memory limit need writable cgroups';
}
