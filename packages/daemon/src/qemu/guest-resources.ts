import type { QmpMonitor } from '../qmp/index.js';
import { GuestBalloon } from './guest-balloon.js';
import { GuestVcpus } from './guest-vcpus.js';
import type { GuestResourcesControl } from './runtime-controls.js';

/**
 * The guest's memory (balloon) and vCPUs (hot-add) of one QEMU. `qmp` returns the supervisor's connection of the
 * moment, which is replaced when it breaks while QEMU lives on.
 */
export async function guestResources(qmp: () => QmpMonitor): Promise<GuestResourcesControl> {
  const memory = new GuestBalloon(qmp);
  const vcpus = new GuestVcpus(qmp);
  await memory.startStats();
  return {
    setMemory: (bytes) => memory.setTarget(bytes),
    setVcpus: (count) => vcpus.set(count),
    bounds: async () => {
      const [memoryBytes, maxCpus] = await Promise.all([memory.bootBytes(), vcpus.max()]);
      return { memoryBytes, maxCpus };
    },
    usage: async () => {
      const [count, mem] = await Promise.all([vcpus.count(), memory.usage()]);
      return { vcpus: count, ...mem };
    },
    dispose: () => undefined, // nothing of its own: the QMP connection is the supervisor's
  };
}
