// Finds the agent's port: the udev symlink if there is one, else by name in sysfs (busybox guests have no udev).

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { AGENT_PORT_NAME } from '@lodge/api/guest';

export type PortChoice = { kind: 'device'; path: string } | { kind: 'socket'; path: string } | { kind: 'vsock' } | { kind: 'none' };

export function findAgentPort(explicit: string | undefined, wantVsock: boolean): PortChoice {
  if (wantVsock) return { kind: 'vsock' };
  if (explicit) {
    const st = statSync(explicit, { throwIfNoEntry: false });
    if (!st) return { kind: 'none' };
    return st.isSocket() ? { kind: 'socket', path: explicit } : { kind: 'device', path: explicit };
  }
  const link = `/dev/virtio-ports/${AGENT_PORT_NAME}`;
  if (existsSync(link)) return { kind: 'device', path: link };
  try {
    for (const vport of readdirSync('/sys/class/virtio-ports')) {
      const name = readFileSync(`/sys/class/virtio-ports/${vport}/name`, 'utf8').trim();
      if (name === AGENT_PORT_NAME && existsSync(`/dev/${vport}`)) return { kind: 'device', path: `/dev/${vport}` };
    }
  } catch {
    // no virtio-serial bus in this guest
  }
  return existsSync('/dev/vsock') ? { kind: 'vsock' } : { kind: 'none' };
}

/** virtio's device id for vsock: the host gave this guest a vsock device (vhost-vsock-pci or -device). */
const VIRTIO_ID_VSOCK = 19;

/** Whether a virtio vsock device exists; /dev/vsock alone says only that the module is loaded. */
export function hasVsockDevice(devices = '/sys/bus/virtio/devices'): boolean {
  try {
    return readdirSync(devices).some((d) => {
      try {
        return Number.parseInt(readFileSync(`${devices}/${d}/device`, 'utf8').trim(), 16) === VIRTIO_ID_VSOCK;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}
