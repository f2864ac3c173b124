import { formatSize, type VmInfo } from '@lodge/api/lite';
import { agentSummary, type VmWithGuest } from './guest-details.js';

/** A reason longer than this is cut in the table; `lodge info` shows it whole. */
export const REASON_WIDTH = 40;

export function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/** Why a VM is not running is worth a column, and so is a QEMU that does not answer on QMP; a running VM's reason is noise. */
function reasonOf(vm: VmInfo): string {
  if (vm.monitor === 'unreachable') return truncate(`QMP unreachable: lodge info ${vm.name}`, REASON_WIDTH);
  return (vm.state === 'stopped' || vm.state === 'error') && vm.stateReason ? truncate(vm.stateReason, REASON_WIDTH) : '';
}

/** GUEST (after STATE) only when the daemon reports guests at all; "-" for a VM without one (stopped). */
function withGuestColumn(vms: readonly VmWithGuest[], head: string[], rows: string[][]): void {
  if (!vms.some((vm) => vm.guest)) return;
  head.splice(2, 0, 'GUEST');
  rows.forEach((row, i) => {
    const guest = vms[i]?.guest;
    row.splice(2, 0, guest ? agentSummary(guest, { short: true }) : '-');
  });
}

/** The `lodge list` table as text cells; GUEST when the daemon reports guests, REASON only when some VM has one. */
export function vmTable(vms: readonly VmWithGuest[]): { head: string[]; rows: string[][] } {
  const head = ['NAME', 'STATE', 'CPUS', 'MEMORY', 'DISK', 'IMAGE'];
  const rows = vms.map((vm) => [vm.name, vm.state, String(vm.spec.cpus), formatSize(vm.spec.memory), formatSize(vm.spec.disk), vm.spec.image]);
  withGuestColumn(vms, head, rows);
  const reasons = vms.map(reasonOf);
  if (!reasons.some(Boolean)) return { head, rows };
  return { head: [...head, 'REASON'], rows: rows.map((row, i) => [...row, reasons[i] ?? '']) };
}
