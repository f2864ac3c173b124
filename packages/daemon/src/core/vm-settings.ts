import { formatSize, LodgeError, VmUpdateRequest, type VmInfo, type VmSpec, type VmUpdateResult } from '@lodge/api';
import { cpuLimitsOf, type HostPort, type VmDriver, type VmRuntime } from '../ports/vm-driver.js';
import type { KeyedLock } from './keyed-lock.js';
import { applyUpdate, checkCpuLimits } from './spec-update.js';
import { assertAllowed } from './state-table.js';
import { parseOrThrow } from './validate.js';
import type { VmLifecycle } from './vm-lifecycle.js';
import type { VmRecords } from './vm-records.js';

/** What core asks of the guest after a live change (through its agent); each answers with a note, or nothing when all went well. */
export interface GuestFollowUp {
  onlineCpus(vm: string, count: number): Promise<string | undefined>;
  growFilesystem(vm: string, disk: string): Promise<string | undefined>;
}

export interface SettingsDeps {
  records: VmRecords;
  lifecycle: VmLifecycle;
  driver: VmDriver;
  host: HostPort;
  guest: GuestFollowUp;
  locks: KeyedLock;
}

type Undo = () => Promise<unknown>;

/** `lodge set`: changes a VM's resources, live where it runs; the spec is recorded only once every live step worked. */
export class VmSettings {
  constructor(private readonly d: SettingsDeps) {}

  update(name: string, input: unknown): Promise<{ vm: VmInfo; result: VmUpdateResult }> {
    const req = parseOrThrow(VmUpdateRequest, input, 'settings');
    return this.d.locks.run(name, async () => {
      const rec = this.d.records.get(name);
      assertAllowed('set', rec.state, name);
      const { spec, changed } = applyUpdate(rec.spec, req);
      checkCpuLimits(spec, (await this.d.host.resources()).cpus);
      const result: VmUpdateResult = { live: [], nextStart: [], notes: [] };
      const runtime = this.d.lifecycle.runtimeOf(name);
      if (changed.length > 0 && runtime) await this.applyLive(rec.spec, spec, changed, runtime, result);
      else if (changed.length > 0) {
        if (changed.includes('disk')) await this.d.driver.resizeDiskFile(name, 'root', spec.disk);
        result.nextStart.push(...changed);
      }
      if (changed.length > 0) this.d.records.updateSpec(name, spec, changed);
      else result.notes.push('nothing changed: the VM already has these settings');
      return { vm: this.d.records.info(this.d.records.get(name)), result };
    });
  }

  private async applyLive(old: VmSpec, spec: VmSpec, changed: (keyof VmSpec)[], rt: VmRuntime, result: VmUpdateResult): Promise<void> {
    const undo: Undo[] = [];
    const has = (...keys: (keyof VmSpec)[]): boolean => keys.some((k) => changed.includes(k));
    try {
      if (spec.cpus > old.cpus || spec.memory > old.memory) await this.d.lifecycle.admitChange(spec);
      if (has('cpuWeight', 'cpuMax', 'cpuPin')) {
        await rt.setCpuLimits(cpuLimitsOf(spec));
        undo.push(() => rt.setCpuLimits(cpuLimitsOf(old)));
        result.live.push(...changed.filter((k) => ['cpuWeight', 'cpuMax', 'cpuPin'].includes(k)));
      }
      const bounds = has('cpus', 'memory') ? await rt.bounds() : undefined;
      if (bounds && has('cpus')) await this.applyCpus(old, spec, rt, bounds.maxCpus, result);
      if (bounds && has('memory')) {
        if (spec.memory <= bounds.memoryBytes) {
          await rt.setMemory(spec.memory);
          undo.push(() => rt.setMemory(Math.min(old.memory, bounds.memoryBytes)));
          result.live.push('memory');
        } else {
          result.nextStart.push('memory');
          result.notes.push(`memory: the VM booted with ${formatSize(bounds.memoryBytes)}, the most the balloon can give it; ${formatSize(spec.memory)} applies from the next start`);
        }
      }
      if (has('diskIops', 'diskBps')) {
        await rt.throttleDisk('root', { iops: spec.diskIops, bps: spec.diskBps });
        undo.push(() => rt.throttleDisk('root', { iops: old.diskIops, bps: old.diskBps }));
        result.live.push(...changed.filter((k) => k === 'diskIops' || k === 'diskBps'));
      }
      // Last: a grown disk cannot be shrunk back if a later step failed.
      if (has('disk')) {
        await rt.resizeDisk('root', spec.disk);
        result.live.push('disk');
        const note = await this.d.guest.growFilesystem(spec.name, 'root');
        if (note) result.notes.push(`disk: ${note}`);
      }
    } catch (err) {
      for (const step of undo.reverse()) await step().catch(() => undefined);
      throw err;
    }
  }

  private async applyCpus(old: VmSpec, spec: VmSpec, rt: VmRuntime, maxCpus: number, result: VmUpdateResult): Promise<void> {
    if (spec.cpus < old.cpus) {
      result.nextStart.push('cpus');
      result.notes.push(`cpus: vCPUs are not removed from a running VM; it has ${spec.cpus} from the next start`);
    } else if (spec.cpus > maxCpus) {
      result.nextStart.push('cpus');
      result.notes.push(`cpus: the VM can hot-add up to ${maxCpus} vCPUs (its maxCpus); ${spec.cpus} applies from the next start`);
    } else {
      try {
        await rt.setVcpus(spec.cpus); // not undone: a hot-added vCPU stays until the next start
      } catch (err) {
        // The VM still runs more vCPUs than asked (an earlier decrease waits for a restart), or its machine has no CPU hotplug.
        if (!(err instanceof LodgeError) || !['invalid_state', 'host_unsupported'].includes(err.code)) throw err;
        result.nextStart.push('cpus');
        result.notes.push(`cpus: ${err.message}; ${spec.cpus} applies from the next start`);
        return;
      }
      result.live.push('cpus');
      const note = await this.d.guest.onlineCpus(spec.name, spec.cpus);
      if (note) result.notes.push(`cpus: ${note}`);
    }
  }
}
