import type { VmSample } from '@lodge/api';

interface Family {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  value: (s: VmSample) => number | undefined;
}

const FAMILIES: readonly Family[] = [
  { name: 'lodge_vm_cpu_seconds_total', type: 'counter', help: "Host CPU time used by the VM (its cgroup, else its QEMU process).", value: (s) => s.cpuSeconds },
  { name: 'lodge_vm_cpu_percent', type: 'gauge', help: 'Share of one host CPU the VM used over the last sampling interval (100 = one CPU).', value: (s) => s.cpuPercent },
  { name: 'lodge_vm_vcpus', type: 'gauge', help: 'Virtual CPUs the VM has now.', value: (s) => s.vcpus },
  { name: 'lodge_vm_qemu_resident_bytes', type: 'gauge', help: 'Resident memory of the VM\'s QEMU process on the host.', value: (s) => s.qemuRssBytes },
  { name: 'lodge_vm_memory_limit_bytes', type: 'gauge', help: "Host memory limit on the VM's cgroup.", value: (s) => s.memoryLimitBytes },
  { name: 'lodge_vm_balloon_bytes', type: 'gauge', help: 'Guest RAM after the balloon.', value: (s) => s.balloonBytes },
  { name: 'lodge_vm_guest_memory_total_bytes', type: 'gauge', help: 'Memory total as the guest sees it.', value: (s) => s.guestMemTotalBytes },
  { name: 'lodge_vm_guest_memory_available_bytes', type: 'gauge', help: 'Memory available as the guest sees it.', value: (s) => s.guestMemAvailableBytes },
  { name: 'lodge_vm_disk_read_bytes_total', type: 'counter', help: 'Bytes read from all the VM\'s disks.', value: (s) => s.diskReadBytes },
  { name: 'lodge_vm_disk_written_bytes_total', type: 'counter', help: 'Bytes written to all the VM\'s disks.', value: (s) => s.diskWriteBytes },
  { name: 'lodge_vm_disk_reads_total', type: 'counter', help: 'Read operations on all the VM\'s disks.', value: (s) => s.diskReadOps },
  { name: 'lodge_vm_disk_writes_total', type: 'counter', help: 'Write operations on all the VM\'s disks.', value: (s) => s.diskWriteOps },
  { name: 'lodge_vm_network_receive_bytes_total', type: 'counter', help: 'Bytes received by the guest\'s network interfaces (from the guest agent).', value: (s) => s.netRxBytes },
  { name: 'lodge_vm_network_transmit_bytes_total', type: 'counter', help: 'Bytes sent by the guest\'s network interfaces (from the guest agent).', value: (s) => s.netTxBytes },
];

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const formatValue = (n: number): string => (Number.isNaN(n) ? 'NaN' : Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : '-Inf');

/** Prometheus text exposition format 0.0.4 of the latest samples, one `vm` label per series; a family nobody measured is left out. */
export function prometheusText(samples: readonly VmSample[]): string {
  const lines: string[] = [];
  for (const f of FAMILIES) {
    const series = samples.flatMap((s) => {
      const v = f.value(s);
      return v === undefined ? [] : [`${f.name}{vm="${escapeLabel(s.vm)}"} ${formatValue(v)}`];
    });
    if (series.length === 0) continue;
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`, ...series);
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
