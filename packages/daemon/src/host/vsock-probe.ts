import { open } from 'node:fs/promises';
import type { VsockSupport } from '@lodge/api';

export const VHOST_VSOCK_DEVICE = '/dev/vhost-vsock';

/**
 * vhost-vsock counts only when its device opens read-write and is a character device (what QEMU does with it);
 * a file of that name, or one we may not open, gives VMs no vsock device. Run once per daemon start: the module
 * may be loaded after boot, so it is not part of the per-boot probe cache.
 */
export async function probeVsock(device = VHOST_VSOCK_DEVICE): Promise<VsockSupport> {
  let handle;
  try {
    handle = await open(device, 'r+');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { available: false, note: `no ${device} (load the vhost_vsock module: modprobe vhost_vsock); the agent uses the virtio-serial port` };
    if (code === 'EACCES' || code === 'EPERM') return { available: false, note: `${device} not accessible: ${code}; the agent uses the virtio-serial port` };
    return { available: false, note: `${device} cannot be opened: ${code ?? (err as Error).message}; the agent uses the virtio-serial port` };
  }
  try {
    const st = await handle.stat();
    if (!st.isCharacterDevice()) return { available: false, note: `${device} is not a character device; the agent uses the virtio-serial port` };
    return { available: true, note: `${device} opens read-write: VMs get a vsock device, the agent is reached over vsock (virtio-serial as fallback)` };
  } finally {
    await handle.close();
  }
}
