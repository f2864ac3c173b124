import { formatSize, type VmInfo } from '@lodge/api/lite';

/** A reason longer than this is cut in the table; `lodge info` shows it whole. */
export const REASON_WIDTH = 40;

export function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/** Why a VM is not running is worth a column; a running VM's reason is noise. */
function reasonOf(vm: VmInfo): string {
  return (vm.state === 'stopped' || vm.state === 'error') && vm.stateReason ? truncate(vm.stateReason, REASON_WIDTH) : '';
}

/** The `lodge list` table as text cells; REASON only when some VM has one. */
export function vmTable(vms: readonly VmInfo[]): { head: string[]; rows: string[][] } {
  const head = ['NAME', 'STATE', 'CPUS', 'MEMORY', 'DISK', 'IMAGE'];
  const rows = vms.map((vm) => [vm.name, vm.state, String(vm.spec.cpus), formatSize(vm.spec.memory), formatSize(vm.spec.disk), vm.spec.image]);
  const reasons = vms.map(reasonOf);
  if (!reasons.some(Boolean)) return { head, rows };
  return { head: [...head, 'REASON'], rows: rows.map((row, i) => [...row, reasons[i] ?? '']) };
}
