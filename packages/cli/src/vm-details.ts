import { formatSize } from '@lodge/api/lite';
import { firstBootDetails } from './first-boot-details.js';
import { agentSummary, type VmWithGuest } from './guest-details.js';
import type { Pair } from './key-value-lines.js';

const cpuText = (s: VmWithGuest['spec']): string =>
  [`weight ${s.cpuWeight ?? 100}`, s.cpuMax ? `quota ${s.cpuMax}%` : '', s.cpuPin ? `pinned to ${s.cpuPin}` : ''].filter(Boolean).join(', ');
const ioText = (iops?: number, bps?: number): string =>
  [iops ? `${iops} IOPS` : '', bps ? `${formatSize(bps)}/s` : ''].filter(Boolean).join(', ');

/** What `lodge info NAME` shows, in this order; `guest` only while the daemon reports one. */
export function vmDetails(vm: VmWithGuest): Pair[] {
  return [
    ['name', vm.name],
    ['state', vm.state],
    ['reason', vm.stateReason],
    ['guest', vm.guest && agentSummary(vm.guest)],
    ['monitor', vm.monitor === 'unreachable' ? `unreachable: QEMU does not answer on ${vm.folder}/qmp.sock (another program may hold it; lodged keeps trying)` : undefined],
    ['pid', vm.pid === undefined ? undefined : String(vm.pid)],
    ['vsock', vm.vsockCid === undefined ? undefined : `cid ${vm.vsockCid}`],
    ['image', vm.spec.image],
    ['cpus', vm.spec.maxCpus && vm.spec.maxCpus !== vm.spec.cpus ? `${vm.spec.cpus} (up to ${vm.spec.maxCpus} live)` : String(vm.spec.cpus)],
    ['cpu', cpuText(vm.spec)],
    ['memory', formatSize(vm.spec.memory)],
    ['disk', [formatSize(vm.spec.disk), ioText(vm.spec.diskIops, vm.spec.diskBps)].filter(Boolean).join(', ')],
    ['disks', (vm.spec.disks ?? []).map((d) => `${d.name} ${formatSize(d.size)}`).join(', ') || undefined],
    ['machine', vm.spec.machine],
    ...firstBootDetails(vm),
    ['folder', vm.folder],
    ['created', vm.createdAt],
  ];
}
