import { VM_NAME_PATTERN } from '@lodge/api/lite';
import { UsageError } from './flag-values.js';

export interface GuestPath {
  vm: string;
  path: string;
}

/** Which way a `lodge cp` goes: exactly one side is VM:/path, the other a host path. */
export type CopyPlan =
  | { direction: 'to-guest'; local: string; guest: GuestPath }
  | { direction: 'from-guest'; guest: GuestPath; local: string };

/** "VM:/path" when the part before the first ":" is a VM name (as scp does); a host path with ":" can be written ./a:b. */
export function guestPathOf(arg: string): GuestPath | undefined {
  const colon = arg.indexOf(':');
  if (colon < 0) return undefined;
  const vm = arg.slice(0, colon);
  return VM_NAME_PATTERN.test(vm) ? { vm, path: arg.slice(colon + 1) } : undefined;
}

function absolute(g: GuestPath): GuestPath {
  if (g.path.startsWith('/')) return g;
  const example = g.path === '' ? '/root' : `/root/${g.path}`;
  throw new UsageError(`the guest path in "${g.vm}:${g.path}" must be absolute`, `write ${g.vm}:${example} (a host path with ":" is written ./${g.vm}:${g.path})`);
}

export function copyPlan(src: string, dst: string): CopyPlan {
  const from = guestPathOf(src);
  const to = guestPathOf(dst);
  if (from && to) throw new UsageError('both SRC and DST are in VMs; copy one way through the host', 'lodge cp VM:/path ./here, then lodge cp ./here OTHER:/path');
  if (!from && !to) throw new UsageError('one of SRC and DST must be VM:/path', 'e.g. lodge cp ./app web:/opt  or  lodge cp web:/var/log/syslog .');
  if (to) return { direction: 'to-guest', local: src, guest: absolute(to) };
  return { direction: 'from-guest', guest: absolute(from as GuestPath), local: dst };
}
