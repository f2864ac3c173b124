import type { GuestVia, Progress, VmState } from '@lodge/api';
import type { GuestService } from './guest-service.js';

/**
 * The last step of a start: wait for the Lodge agent (or the QEMU guest agent) to answer.
 * A VM without any agent is still a started VM: no answer is a warning in the progress, not a failure.
 * Resolves with the channel that answered.
 */
export async function awaitGuestReadiness(o: {
  guest: GuestService;
  vm: string;
  timeoutSec: number;
  /** The image carries the Lodge agent (built images): wait for it even when the QEMU guest agent answers first. */
  agentExpected: boolean;
  stateOf: () => VmState | undefined;
  progress: (p: Progress) => void;
}): Promise<GuestVia | undefined> {
  o.progress({ step: 'waiting for the guest agent', percent: 95 });
  const via = await o.guest.waitReady(o.vm, o.timeoutSec * 1000, undefined, o.agentExpected);
  if (via) {
    o.progress({ step: `guest ready (${via})`, percent: 100 });
    return via;
  }
  const state = o.stateOf();
  const step = state === 'running' ? `the guest agent did not answer within ${o.timeoutSec} s` : `the VM is ${state ?? 'gone'} and its guest agent never answered`;
  o.progress({ step, percent: 100 });
  return undefined;
}
