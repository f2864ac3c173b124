import { LodgeError, type VmInfo, type VmSpec, type VmState } from '@lodge/api';
import type { VmRecord, VmTable } from '../store/vm-table.js';
import type { EventBus } from './event-bus.js';

export const ACTIVE_STATES: readonly VmState[] = ['starting', 'running', 'paused', 'stopping'];

/** The stored VMs and their state changes; every change is persisted and published as one event. */
export class VmRecords {
  constructor(
    private readonly table: VmTable,
    private readonly bus: EventBus,
    private readonly folderOf: (name: string) => string,
  ) {}

  find(name: string): VmRecord | undefined {
    return this.table.get(name);
  }

  get(name: string): VmRecord {
    const rec = this.table.get(name);
    if (!rec) throw new LodgeError('not_found', `VM "${name}" does not exist`, { hint: 'see the VMs with: lodge list' });
    return rec;
  }

  list(): VmRecord[] {
    return this.table.list();
  }

  active(except?: string): VmRecord[] {
    return this.table.list().filter((r) => r.name !== except && ACTIVE_STATES.includes(r.state));
  }

  insert(rec: VmRecord): void {
    this.table.insert(rec);
    this.bus.publish({ type: 'vm.created', vm: rec.name });
  }

  remove(name: string): void {
    this.table.delete(name);
    this.bus.publish({ type: 'vm.deleted', vm: name });
  }

  /** Records a changed spec (lodge set, disks) and says which fields changed. */
  updateSpec(name: string, spec: VmSpec, fields: string[]): void {
    this.table.setSpec(name, spec);
    this.bus.publish({ type: 'vm.updated', vm: name, fields });
  }

  transition(name: string, to: VmState, opts: { reason?: string; pid?: number | null; vsockCid?: number } = {}): void {
    const rec = this.table.get(name);
    if (!rec) return;
    if (rec.state === to && rec.stateReason === opts.reason && opts.pid === undefined) return;
    this.table.setState(name, to, opts);
    if (rec.state !== to || rec.stateReason !== opts.reason) {
      this.bus.publish({ type: 'vm.state', vm: name, from: rec.state, to, reason: opts.reason });
    }
  }

  info(rec: VmRecord): VmInfo {
    return { ...rec, folder: this.folderOf(rec.name) };
  }
}
