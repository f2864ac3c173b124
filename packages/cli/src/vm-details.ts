import { formatSize, type VmInfo } from '@lodge/api/lite';
import type { Pair } from './key-value-lines.js';

/** What `lodge info NAME` shows, in this order. */
export function vmDetails(vm: VmInfo): Pair[] {
  return [
    ['name', vm.name],
    ['state', vm.state],
    ['reason', vm.stateReason],
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
