import type { GuestDriver } from './kernel-modules.js';

/** Printed on the console by the guest's rcS once userspace runs; benchmarks time QEMU launch to this line. */
export const MICRO_BOOT_MARKER = 'lodge-micro: init reached';

/** Drivers the initramfs loads before mounting the root disk (loaded modules stay loaded after switch_root). */
export const MICRO_BOOT_DRIVERS: GuestDriver[] = [
  { module: 'virtio_pci', config: 'VIRTIO_PCI', required: true },
  { module: 'virtio_mmio', config: 'VIRTIO_MMIO' }, // microvm machines expose virtio over MMIO
  { module: 'virtio_blk', config: 'VIRTIO_BLK', required: true },
  { module: 'ext4', config: 'EXT4_FS', required: true }, // built in on Debian's cloud kernel
  { module: 'virtio_net', config: 'VIRTIO_NET' },
  { module: 'virtio_console', config: 'VIRTIO_CONSOLE' }, // the guest agent's virtio-serial port
  { module: 'virtio_balloon', config: 'VIRTIO_BALLOON' },
  { module: 'button', config: 'ACPI_BUTTON' }, // ACPI power button → input event → acpid → poweroff
  { module: 'evdev', config: 'INPUT_EVDEV' }, // acpid reads /dev/input/event*
  // Debian's cloud kernel has no 9p (CONFIG_NET_9P unset); these load only with a kernel that has them.
  { module: '9pnet_virtio', config: 'NET_9P_VIRTIO' },
  { module: '9p', config: '9P_FS' },
];

/** Copied into the root disk with a modules.dep so `modprobe` can load them on demand, at no boot cost. */
export const MICRO_ON_DEMAND_DRIVERS: GuestDriver[] = [
  { module: 'virtiofs', config: 'VIRTIO_FS' },
  { module: 'vmw_vsock_virtio_transport', config: 'VIRTIO_VSOCKETS' },
  { module: 'virtio_rng', config: 'HW_RANDOM_VIRTIO' },
];

/** Where the initramfs lists the drivers to load, by name, on one line. */
export const BOOT_MODULES_FILE = 'lib/modules/load';

/** The initramfs /init: load the boot drivers with one modprobe, mount root= and switch_root into its init. */
export const INITRAMFS_INIT = `#!/bin/sh
# lodge micro initramfs: load the virtio drivers, mount the root disk, hand over to its init.
export PATH=/bin:/sbin
mount -t devtmpfs -o nosuid devtmpfs /dev
# The cpio has no /dev/console node (it is built without root), so open the console once devtmpfs is up.
exec </dev/console >/dev/console 2>&1
mount -t proc -o nosuid,nodev,noexec proc /proc
rescue() { echo "lodge-initramfs: $*"; echo "lodge-initramfs: dropping to a shell"; exec setsid cttyhack sh; }
read -r cmdline </proc/cmdline
root=/dev/vda fstype=ext4 flags= mode=rw init=/sbin/init
for arg in $cmdline; do
  case $arg in
    root=*) root=\${arg#root=} ;; rootfstype=*) fstype=\${arg#rootfstype=} ;;
    rootflags=*) flags=,\${arg#rootflags=} ;; ro|rw) mode=$arg ;; init=*) init=\${arg#init=} ;;
  esac
done
# One process for all drivers (each exec costs ~20 ms under TCG); modprobe orders them by modules.dep
# and passes name.param=value options from the kernel command line.
read -r modules </${BOOT_MODULES_FILE}
modprobe -a $modules || echo "lodge-initramfs: some of these drivers did not load: $modules"
n=0
while [ ! -b "$root" ]; do
  n=$((n + 1)); [ $n -gt 1000 ] && rescue "root device $root did not appear (is the disk a virtio-blk device?)"
  usleep 10000
done
mount -t "$fstype" -o "$mode$flags" "$root" /newroot || rescue "cannot mount $root ($fstype, $mode$flags)"
[ -x "/newroot$init" ] || rescue "$init not found on $root"
mount --move /dev /newroot/dev && mount --move /proc /newroot/proc || rescue "cannot move /dev and /proc to $root"
exec switch_root /newroot "$init"
`;
