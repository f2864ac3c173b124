import { LodgeError, type VmAction, type VmState } from '@lodge/api';

/** Which action is allowed in which state; everything else is refused with invalid_state. */
export const ALLOWED: Record<VmAction, readonly VmState[]> = {
  start: ['stopped', 'error'],
  stop: ['running', 'paused', 'starting', 'stopping'],
  restart: ['running', 'paused'],
  pause: ['running'],
  resume: ['paused'],
  delete: ['stopped', 'error'],
  /** Settings and disks change live on a running or paused VM, in the spec alone on a stopped one. */
  set: ['stopped', 'error', 'running', 'paused'],
  disk: ['stopped', 'error', 'running', 'paused'],
};

const HINTS: Partial<Record<VmState, string>> = {
  running: 'stop it first with: lodge stop NAME',
  paused: 'resume it with: lodge resume NAME, or stop it with: lodge stop NAME',
  starting: 'wait for the start to finish, or stop it with: lodge stop --force NAME',
  stopping: 'wait for it to stop, or force it with: lodge stop --force NAME',
  stopped: 'start it with: lodge start NAME',
};

export function isAllowed(action: VmAction, state: VmState): boolean {
  return ALLOWED[action].includes(state);
}

export function assertAllowed(action: VmAction, state: VmState, vm: string): void {
  if (isAllowed(action, state)) return;
  throw new LodgeError('invalid_state', `cannot ${action} VM "${vm}": it is ${state}`, {
    hint: HINTS[state]?.replaceAll('NAME', vm),
    details: { vm, state, action, allowedIn: ALLOWED[action] },
  });
}
