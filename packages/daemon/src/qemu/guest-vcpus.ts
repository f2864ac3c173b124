import { LodgeError } from '@lodge/api';
import { deviceAdd, queryCpusFast, queryHotpluggableCpus, type QmpHotpluggableCpu, type QmpMonitor } from '../qmp/index.js';

const TOPOLOGY = ['socket-id', 'die-id', 'core-id', 'thread-id'];
const slotOrder = (a: QmpHotpluggableCpu, b: QmpHotpluggableCpu): number => TOPOLOGY.reduce((d, k) => d || (a.props[k] ?? 0) - (b.props[k] ?? 0), 0);
/** A stable device id per slot, e.g. vcpu-0-1-0 (socket, core, thread). */
const slotId = (s: QmpHotpluggableCpu): string => `vcpu-${TOPOLOGY.filter((k) => k in s.props).map((k) => s.props[k]).join('-')}`;

/** vCPU hot-add through the machine's free slots (-smp maxcpus); the guest onlines new CPUs itself (micro image: uevent). */
export class GuestVcpus {
  constructor(private readonly qmp: () => QmpMonitor) {}

  count = async (): Promise<number> => (await queryCpusFast(this.qmp())).length;

  /** Every vCPU slot, taken or free; undefined on machines without CPU hotplug (microvm: "feature not enabled"). */
  private slots = (): Promise<QmpHotpluggableCpu[] | undefined> => queryHotpluggableCpus(this.qmp()).catch(() => undefined);

  async max(): Promise<number> {
    const slots = await this.slots();
    return slots ? slots.reduce((n, s) => n + s.vcpusCount, 0) : this.count();
  }

  async set(count: number): Promise<void> {
    if (!Number.isSafeInteger(count) || count < 1) throw new LodgeError('invalid_argument', `vCPU count ${count} is not a whole number of at least 1`);
    const now = await this.count();
    const details = { current: now, requested: count };
    if (count === now) return;
    if (count < now) {
      throw new LodgeError('invalid_state', `a running VM cannot lose vCPUs (it has ${now}, asked for ${count})`, {
        hint: 'vCPUs can only be added live; fewer take effect at the next start', details,
      });
    }
    const slots = await this.slots();
    if (!slots) {
      throw new LodgeError('host_unsupported', `this VM's machine type cannot add vCPUs live (it has ${now}, asked for ${count})`, {
        hint: 'microvm has no CPU hotplug: the new count takes effect at the next start, or use a q35 or pc machine', details,
      });
    }
    const max = slots.reduce((n, s) => n + s.vcpusCount, 0);
    if (count > max) {
      throw new LodgeError('invalid_argument', `this VM was started with room for ${max} vCPUs; ${count} needs a restart`, {
        hint: 'raise --max-cpus (or --cpus) and restart the VM', details: { ...details, maxCpus: max },
      });
    }
    let added = now;
    for (const slot of slots.filter((s) => !s.qomPath).sort(slotOrder)) {
      if (added >= count) break;
      await deviceAdd(this.qmp(), { driver: slot.type, id: slotId(slot), ...slot.props }).catch((err: unknown) => {
        throw new LodgeError('qemu_failed', `QEMU refused vCPU ${added + 1} of ${count}; the VM has ${added} now: ${(err as Error).message}`, {
          cause: err, details: { ...details, current: added },
        });
      });
      added += slot.vcpusCount;
    }
  }
}
