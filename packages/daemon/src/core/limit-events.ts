import type { EventBus } from './event-bus.js';
import type { VmLifecycle } from './vm-lifecycle.js';

/** Turns each runtime's limit hits into stored `vm.limit` events, from adoption until its QEMU exits. */
export function forwardLimitHits(lifecycle: Pick<VmLifecycle, 'onRuntime'>, bus: Pick<EventBus, 'publish'>): () => void {
  return lifecycle.onRuntime((vm, runtime) => {
    const off = runtime.onLimit((hit) => bus.publish({ type: 'vm.limit', vm, resource: hit.resource, message: hit.message }));
    void runtime.exited.then(off, off);
  });
}
