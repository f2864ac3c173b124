import { formatSize } from '@lodge/api/lite';
import { agentSummary, type VmWithGuest } from './guest-details.js';
import type { Pair } from './key-value-lines.js';

/** What `lodge info NAME` shows, in this order; `guest` only while the daemon reports one. */
export function vmDetails(vm: VmWithGuest): Pair[] {
  return [
    ['name', vm.name],
    ['state', vm.state],
    ['reason', vm.stateReason],
    ['guest', vm.guest && agentSummary(vm.guest)],
    ['pid', vm.pid === undefined ? undefined : String(vm.pid)],
    ['image', vm.spec.image],
    ['cpus', String(vm.spec.cpus)],
    ['memory', formatSize(vm.spec.memory)],
    ['disk', formatSize(vm.spec.disk)],
    ['machine', vm.spec.machine],
    ['folder', vm.folder],
    ['created', vm.createdAt],
  ];
}
