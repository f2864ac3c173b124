import { AGENT_PORT_NAME } from '@lodge/api/guest';
import { GUEST_AGENT } from './micro-root.js';
import type { RootFile } from './micro-root.js';

/** Printed on the console by lodge-booted.service once the default target is reached. */
export const DEBIAN_BOOT_MARKER = 'lodge-debian: multi-user reached';

/** The root disk's size (in sectors) its file system was last grown to; same place as in the micro image. */
export const DEBIAN_ROOT_GROWN_FILE = '/var/lib/lodge/root-sectors';

/** systemd's escaping of the agent port's device path, as the name of its device unit. */
export const AGENT_DEVICE_UNIT = `dev-virtio\\x2dports-${AGENT_PORT_NAME.replace(/-/g, '\\x2d')}.device`;

const AGENT_UDEV_RULE = `# The Lodge agent's virtio-serial port: a systemd device unit that pulls in lodge-agent.service.
SUBSYSTEM=="virtio-ports", ATTR{name}=="${AGENT_PORT_NAME}", TAG+="systemd", ENV{SYSTEMD_WANTS}+="lodge-agent.service"
`;

const AGENT_UNIT = `[Unit]
Description=Lodge agent (the host's commands over virtio-serial)
# Started by udev when its port appears (60-lodge-agent.rules), stopped when the port goes. Early (no default
# dependencies): Node takes seconds to start under TCG, and lodge start waits for it, not for the rest of boot.
DefaultDependencies=no
BindsTo=${AGENT_DEVICE_UNIT}
After=${AGENT_DEVICE_UNIT} systemd-tmpfiles-setup.service
Conflicts=shutdown.target
Before=shutdown.target

[Service]
ExecStart=${GUEST_AGENT.run}
Environment=HOME=/root
# Ahead of the rest of boot for the single vCPU: lodge start waits for this, not for sshd or resolved.
Nice=-10
Restart=always
RestartSec=1
`;

const AGENT_RUN = `#!/bin/sh
# Runs the Lodge agent (systemd restarts it when it exits). While ${GUEST_AGENT.hold} exists it stays off
# its port: tests and benchmarks talk to the port themselves.
while [ -e ${GUEST_AGENT.hold} ]; do sleep 0.5; done
exec ${GUEST_AGENT.node} ${GUEST_AGENT.agent}
`;

const LODGE_GUEST = `#!/bin/sh
# lodge-guest: the guest side's command line (talks to the Lodge agent).
exec ${GUEST_AGENT.node} ${GUEST_AGENT.cli} "$@"
`;

const GROW_ROOT = `#!/bin/sh
# Grows the root ext4 to its disk's size when the disk changed size since the last run (first boot, or a
# disk made larger while the VM was stopped). On a partitioned disk (GRUB images) the root's partition grows
# first: sfdisk --no-reread rewrites the table of the disk in use, partx -u hands the kernel the new end (a
# BLKPG resize, which a busy disk accepts where a re-read is refused); resize2fs grows the mounted file system.
set -eu
dev=$(readlink -f "$(findmnt -no SOURCE /)")
name=$(basename "$dev")
disk=$name
[ -e "/sys/class/block/$name/partition" ] && disk=$(basename "$(readlink -f "/sys/class/block/$name/..")")
sectors=$(cat "/sys/class/block/$disk/size")
[ "$sectors" = "$(cat ${DEBIAN_ROOT_GROWN_FILE} 2>/dev/null || true)" ] && exit 0
if [ "$disk" != "$name" ]; then
  part=$(cat "/sys/class/block/$name/partition")
  echo ', +' | sfdisk --quiet --no-reread --no-tell-kernel -N "$part" "/dev/$disk"
  partx -u -n "$part" "/dev/$disk"
fi
resize2fs "$dev"
mkdir -p "$(dirname ${DEBIAN_ROOT_GROWN_FILE})"
echo "$sectors" >${DEBIAN_ROOT_GROWN_FILE}
`;

const GROW_ROOT_UNIT = `[Unit]
Description=Grow the root file system to its disk
After=systemd-remount-fs.service
Before=lodge-booted.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/lib/lodge/grow-root

[Install]
WantedBy=multi-user.target
`;

const BOOTED_UNIT = `[Unit]
Description=Print Lodge's boot marker on the console
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "${DEBIAN_BOOT_MARKER}" >/dev/console'

[Install]
WantedBy=multi-user.target
`;

/**
 * The first-boot provisioner (lodge-guest provision), at every boot. Off the agent's path: not ordered before it,
 * behind it at the default priority (the agent runs at -10), and it holds
 * no target (DefaultDependencies=no), so the boot marker and logins do not wait for a long apt install.
 * It starts as soon as the file systems are writable: it finds the seed through sysfs (no udev needed) and its
 * package step waits for a route itself, so waiting for sysinit.target or networkd only delayed lodge start.
 */
const PROVISION_UNIT = `[Unit]
Description=Lodge first-boot provisioning (the NoCloud seed: hostname, users, files, packages, scripts)
DefaultDependencies=no
After=local-fs.target systemd-remount-fs.service systemd-journald.socket
Conflicts=shutdown.target
Before=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/lodge-guest provision
# Default priority: lodge start waits for it (the agent, at Nice -10, still goes first); at Nice 10 the rest of
# boot starved it ~20 s under TCG.
# Scripts have their own time limits (timeout); apt may take long.
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
`;

/** Every Ethernet NIC (QEMU user networking's included) by DHCP. */
const NETWORK = `[Match]
Type=ether

[Network]
DHCP=ipv4
`;

/**
 * Host keys made at the first start of sshd, so VMs of one image do not share them (the build removes its own).
 * Ed25519 and ECDSA only: an RSA key costs ~15 s of CPU under TCG, at the moment the VM boots.
 */
const SSH_HOST_KEYS_UNIT = `[Service]
ExecStartPre=
ExecStartPre=/usr/lib/lodge/ssh-host-keys
ExecStartPre=/usr/sbin/sshd -t
`;

const SSH_HOST_KEYS = `#!/bin/sh
set -eu
for t in ed25519 ecdsa; do
  [ -e /etc/ssh/ssh_host_\${t}_key ] || ssh-keygen -q -t "$t" -N '' -f /etc/ssh/ssh_host_\${t}_key
done
`;

const SSHD_CONFIG = `HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
`;

/** initramfs-tools: only what finds the root disk (ext4 is built into the cloud kernel); "most" boots seconds slower. */
const INITRAMFS_CONF = 'MODULES=list\n';
const INITRAMFS_MODULES = 'virtio_pci\nvirtio_mmio\nvirtio_blk\n';

/** quiet: console output costs boot time under TCG; panic=-1: a panic resets; cryptomgr.notests: ~0.5 s saved. */
export function debianCmdline(root: string): string {
  return `console=ttyS0 root=${root} rw quiet panic=-1 cryptomgr.notests`;
}
export const DEBIAN_KERNEL_CMDLINE = debianCmdline('/dev/vda');

/** The root's fstab line; GRUB images name their partition by UUID. */
export function debianFstab(root: string): string {
  return `${root} / ext4 rw,errors=remount-ro 0 1\n`;
}

/** Files written into the rootfs before the customize commands run; their text is part of the recipe hash. */
export const DEBIAN_ROOT_FILES: RootFile[] = [
  { path: 'etc/udev/rules.d/60-lodge-agent.rules', mode: 0o644, text: AGENT_UDEV_RULE },
  { path: 'etc/systemd/system/lodge-agent.service', mode: 0o644, text: AGENT_UNIT },
  { path: 'etc/systemd/system/lodge-grow-root.service', mode: 0o644, text: GROW_ROOT_UNIT },
  { path: 'etc/systemd/system/lodge-booted.service', mode: 0o644, text: BOOTED_UNIT },
  { path: 'etc/systemd/system/lodge-provision.service', mode: 0o644, text: PROVISION_UNIT },
  { path: 'etc/systemd/system/ssh.service.d/lodge-host-keys.conf', mode: 0o644, text: SSH_HOST_KEYS_UNIT },
  { path: 'usr/lib/lodge/ssh-host-keys', mode: 0o755, text: SSH_HOST_KEYS },
  { path: 'etc/ssh/sshd_config.d/lodge-host-keys.conf', mode: 0o644, text: SSHD_CONFIG },
  { path: 'etc/initramfs-tools/conf.d/lodge.conf', mode: 0o644, text: INITRAMFS_CONF },
  { path: 'etc/initramfs-tools/modules', mode: 0o644, text: INITRAMFS_MODULES },
  { path: 'etc/systemd/network/80-lodge-dhcp.network', mode: 0o644, text: NETWORK },
  { path: 'etc/tmpfiles.d/lodge.conf', mode: 0o644, text: 'd /run/lodge 0755 root root -\n' },
  { path: GUEST_AGENT.run.slice(1), mode: 0o755, text: AGENT_RUN },
  { path: 'usr/lib/lodge/grow-root', mode: 0o755, text: GROW_ROOT },
  { path: 'usr/bin/lodge-guest', mode: 0o755, text: LODGE_GUEST },
  { path: 'etc/hostname', mode: 0o644, text: 'lodge\n' },
  { path: 'etc/hosts', mode: 0o644, text: '127.0.0.1 localhost\n127.0.1.1 lodge\n::1 localhost ip6-localhost ip6-loopback\n' },
  { path: 'etc/fstab', mode: 0o644, text: debianFstab('/dev/vda') },
];

/**
 * Run in the chroot after the files are in: units on, the first-boot prompts off (a VM has nobody at its
 * console), root with an empty password on the console only (sshd refuses empty passwords), no shared host keys.
 */
export const DEBIAN_CUSTOMIZE = [
  'systemctl enable systemd-networkd.service systemd-resolved.service lodge-grow-root.service lodge-booted.service lodge-provision.service',
  // e2scrub_reap looks for LVM snapshots at every boot (~20 s of CPU under TCG); there is no LVM here.
  'systemctl mask systemd-firstboot.service e2scrub_reap.service',
  'passwd -d root',
  'rm -f /etc/ssh/ssh_host_*',
];

/** In place before the kernel is installed, so the initrd its postinst builds is ours (MODULES=list) and is built once. */
export const DEBIAN_EARLY_FILES = ['etc/initramfs-tools'];

/** Written after mmdebstrap (whose cleanup empties it): each VM makes and keeps its own id at its first boot. */
export const MACHINE_ID_TEXT = 'uninitialized\n';
