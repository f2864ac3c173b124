import type { GuestService } from './guest-service.js';
import { guestNote } from './guest-run.js';

/**
 * Hot-added vCPUs arrive offline and the micro image has no udev to online them: the agent does, once the
 * guest kernel has seen the ACPI event for the last one (up to 10 s).
 */
const onlineScript = (count: number): string =>
  `i=0; while [ ! -e /sys/devices/system/cpu/cpu${count - 1} ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; ` +
  'for f in /sys/devices/system/cpu/cpu[0-9]*/online; do [ "$(cat "$f")" = 1 ] || echo 1 > "$f"; done; ' +
  `[ -e /sys/devices/system/cpu/cpu${count - 1} ] || { echo "the guest kernel sees $(ls -d /sys/devices/system/cpu/cpu[0-9]* | wc -l) CPUs, not ${count}" >&2; exit 1; }`;

export function onlineGuestCpus(guest: GuestService, vm: string, count: number): Promise<string | undefined> {
  return guestNote(guest, vm, ['/bin/sh', '-c', onlineScript(count)], 'bringing the new vCPUs online');
}
