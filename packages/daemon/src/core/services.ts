import type { EventBus } from './event-bus.js';
import type { GuestService } from './guest-service.js';
import type { HostService } from './host-service.js';
import type { ImageService } from './image-service.js';
import type { MetricsSampler } from './metrics-sampler.js';
import type { Operations } from './operations.js';
import type { VmDisks } from './vm-disks.js';
import type { VmInventory } from './vm-inventory.js';
import type { VmLifecycle } from './vm-lifecycle.js';
import type { VmSettings } from './vm-settings.js';

/** Everything the API adapters may call. */
export interface Services {
  vms: VmInventory;
  lifecycle: VmLifecycle;
  settings: VmSettings;
  disks: VmDisks;
  images: ImageService;
  host: HostService;
  ops: Operations;
  bus: EventBus;
  guest: GuestService;
  metrics: MetricsSampler;
}
