import { AGENT_PORT_NAME, QGA_PORT_NAME } from '@lodge/api/guest';
import { GUEST_AGENT_DIR } from './agent-files.js';
import { MICRO_BOOT_MARKER } from './micro-init.js';

/** A file the recipe writes into the root disk (path relative to its root). */
export interface RootFile {
  path: string;
  mode: number;
  text: string;
}

/** Empty folders the root disk needs: mount points for the kernel filesystems and writable places. */
export const MICRO_ROOT_DIRS = ['dev', 'proc', 'sys', 'run', 'tmp', 'root', 'mnt', 'home', 'var/log', 'var/tmp', 'var/lib/lodge', 'lib/modules', 'usr/local/bin'];

/** Symlinks of the root disk (path → target). */
export const MICRO_ROOT_LINKS: Record<string, string> = { 'var/run': '/run', 'var/lock': '/run/lock' };

/** Guest paths of the Lodge agent's parts; agent-files.ts supplies the two .mjs files. */
export const GUEST_AGENT = {
  agent: `/${GUEST_AGENT_DIR}/lodge-agent.mjs`,
  cli: `/${GUEST_AGENT_DIR}/lodge-guest.mjs`,
  run: `/${GUEST_AGENT_DIR}/agent-run`,
  /** While this file exists the agent stays off its port (tests and benchmarks use the port themselves). */
  hold: '/run/lodge/agent.hold',
  log: '/run/lodge/agent.log',
  /**
   * Node for the agent and lodge-guest. --jitless: under TCG every piece of machine code V8 writes is translated
   * again by QEMU, so a 500-file copy ran up to 2.7× slower until V8's code settled, and lodge-guest started
   * 0.7 s slower (3.6 against 2.9 s). --no-expose-wasm: the warning --jitless prints otherwise (neither uses wasm).
   */
  node: '/usr/bin/node --jitless --no-expose-wasm',
} as const;

const QGA_LOG = '/run/qemu-ga.log';

/** The root disk's size (in sectors) its file system was last grown to; rcS compares it with the disk's. */
export const ROOT_GROWN_FILE = '/var/lib/lodge/root-sectors';

const INITTAB = `# lodge micro: busybox init
::sysinit:/etc/init.d/rcS
# cttyhack makes ttyS0 the shell's controlling tty, so job control and Ctrl-C work on the serial console.
ttyS0::respawn:/bin/cttyhack /bin/sh -l
# The QEMU guest agent on its virtio-serial port (rcS made the /dev/virtio-ports names). -r: when the port is
# missing (a QEMU started without it) it retries every 5 s instead of exiting and being respawned at once.
::respawn:/usr/sbin/qemu-ga -m virtio-serial -p /dev/virtio-ports/${QGA_PORT_NAME} -t /run -f /run/qemu-ga.pid -l ${QGA_LOG} -r
# The Lodge agent (Node), through a wrapper that keeps it off the port while ${GUEST_AGENT.hold} exists.
::respawn:${GUEST_AGENT.run}
::ctrlaltdel:/sbin/poweroff
::shutdown:/bin/sync
::shutdown:/bin/umount -a -r
`;

/** Run by busybox `uevent` for each kernel event (environment: ACTION, SUBSYSTEM, DEVPATH, …). */
const UEVENT_HANDLER = '/etc/lodge/uevent';
const UEVENT_SCRIPT = `#!/bin/sh
# A vCPU hot-added over QMP (lodge set --cpus) appears offline: bring it online.
[ "$SUBSYSTEM/$ACTION" = cpu/add ] && [ -e "/sys$DEVPATH/online" ] && echo 1 >"/sys$DEVPATH/online"
exit 0
`;

const RCS = `#!/bin/sh
# lodge micro rcS: mount the kernel filesystems, name the virtio-serial ports, start acpid and the network,
# then print the boot marker. init starts the respawn entries (qemu-ga, the Lodge agent) once this has ended.
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
# The initramfs moves its /dev and /proc here; mount what is missing (all of it when booted without one).
[ -e /proc/self ] || mount -t proc -o nosuid,nodev,noexec proc /proc
[ -d /sys/kernel ] || mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
[ -c /dev/null ] || mount -t devtmpfs -o nosuid devtmpfs /dev
mkdir -p /dev/pts /dev/shm
# devtmpfs lacks the links udev/systemd make: without them "echo > /dev/stdout" writes a file here.
ln -sfn /proc/self/fd /dev/fd && ln -sf /proc/self/fd/0 /dev/stdin && ln -sf /proc/self/fd/1 /dev/stdout && ln -sf /proc/self/fd/2 /dev/stderr
mount -t devpts -o nosuid,noexec,gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev tmpfs /dev/shm
mount -t tmpfs -o nosuid,nodev,mode=755 tmpfs /run
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp
# The guest is named after its VM: lodge start puts lodge.hostname=<vm> on the kernel's command line. Every boot, as
# the Debian images' provisioner does; /etc/hostname and /etc/hosts follow it. Without the option: /etc/hostname.
read -r name </etc/hostname
for arg in $(cat /proc/cmdline); do case $arg in lodge.hostname=?*) given=\${arg#lodge.hostname=} ;; esac; done
case $given in ''|-*|*[!a-z0-9-]*) ;; *)
  [ "$given" = "$name" ] || { echo "$given" >/etc/hostname; sed -i "s/^127\\.0\\.1\\.1[[:space:]].*/127.0.1.1 $given/" /etc/hosts; }
  name=$given ;;
esac
echo "$name" >/proc/sys/kernel/hostname
mkdir -p /run/lodge /run/lock
# /dev/virtio-ports/<name> → ../vportNpM, as udev names virtio-serial ports (busybox has no udev). A port's
# name file appears once QEMU has sent the name, just after the port itself: wait up to 0.5 s in all for it.
# inittab starts qemu-ga and the agent only after this script, so their ports are there when they look.
mkdir -p /dev/virtio-ports
n=0
for p in /sys/class/virtio-ports/vport*; do
  [ -d "$p" ] || continue
  while [ ! -e "$p/name" ] && [ $n -lt 50 ]; do n=$((n + 1)); usleep 10000; done
  read -r port 2>/dev/null <"$p/name" || continue
  case $port in ''|*/*|.*) continue ;; esac
  ln -sf "../\${p##*/}" "/dev/virtio-ports/$port"
done
# The root disk may be larger than its file system (made bigger, or grown while the VM was stopped): grow the
# mounted ext4 online, in the background so boot does not wait. The size is remembered, so an unchanged disk
# costs no resize2fs run; /run/lodge/root-grown says when it is done.
if read -r sectors 2>/dev/null </sys/block/vda/size; then
  read -r grown 2>/dev/null <${ROOT_GROWN_FILE}
  if [ "$sectors" = "$grown" ]; then : >/run/lodge/root-grown
  else { resize2fs /dev/vda >/run/lodge/resize2fs.log 2>&1 && echo "$sectors" >${ROOT_GROWN_FILE} && : >/run/lodge/root-grown; } &
  fi
fi
ip link set lo up
# Hot-added vCPUs arrive offline and there is no udev: a uevent listener brings them online; the loop catches any
# added before it listened.
uevent ${UEVENT_HANDLER} >/dev/null 2>&1 </dev/null &
for c in /sys/devices/system/cpu/cpu*/online; do [ -e "$c" ] && read -r on <"$c" && [ "$on" = 0 ] && echo 1 >"$c"; done
# QMP system_powerdown arrives as a KEY_POWER input event; acpid runs /etc/acpi/PWRF/00000080.
acpid -l /run/acpid.log
if [ -d /sys/class/net/eth0 ]; then
  # In the background: the carrier comes up about a second later (linkwatch), and boot should not wait for it.
  udhcpc -i eth0 -s /etc/udhcpc/default.script -S -t 5 -T 1 -A 3 >/dev/null 2>&1 &
fi
echo "${MICRO_BOOT_MARKER}" >/dev/console
`;

const UDHCPC_SCRIPT = `#!/bin/sh
# udhcpc hook: apply a lease to the interface, the default route and /etc/resolv.conf.
case "$1" in
  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip -4 addr show dev "$interface" | grep -q "inet $ip/" || {
      ip -4 addr flush dev "$interface"; ip addr add "$ip/\${mask:-24}" dev "$interface"; }
    [ -n "$router" ] && ip route replace default via "\${router%% *}" dev "$interface"
    if [ -n "$dns" ]; then
      { for s in $dns; do echo "nameserver $s"; done; [ -n "$domain" ] && echo "search $domain"; } >/etc/resolv.conf
    fi ;;
esac
exit 0
`;

const AGENT_RUN = `#!/bin/sh
# Runs the Lodge agent; busybox init respawns this script when the agent exits.
# While ${GUEST_AGENT.hold} exists the agent stays off its port (tests and benchmarks talk to the port
# themselves); without the port (a QEMU started without it) it waits too, instead of respawning Node, which
# costs 1.5 s of CPU per start under TCG, in a loop.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
while [ -e ${GUEST_AGENT.hold} ] || [ ! -e /dev/virtio-ports/${AGENT_PORT_NAME} ]; do sleep 0.5; done
exec ${GUEST_AGENT.node} ${GUEST_AGENT.agent} >>${GUEST_AGENT.log} 2>&1 </dev/null
`;

const LODGE_GUEST = `#!/bin/sh
# lodge-guest: the guest side's command line (talks to the Lodge agent).
exec ${GUEST_AGENT.node} ${GUEST_AGENT.cli} "$@"
`;

const PROFILE = `export PATH=/sbin:/usr/sbin:/bin:/usr/bin HOME=/root
# No \\u: static glibc busybox cannot look up user names (no NSS modules), so it would print nothing.
PS1='\\h:\\w\\$ '
cd "$HOME"
`;

/** Every file of the root disk besides busybox; its text is part of the recipe hash. */
export const MICRO_ROOT_FILES: RootFile[] = [
  { path: 'etc/inittab', mode: 0o644, text: INITTAB },
  { path: 'etc/init.d/rcS', mode: 0o755, text: RCS },
  { path: 'etc/udhcpc/default.script', mode: 0o755, text: UDHCPC_SCRIPT },
  { path: UEVENT_HANDLER.slice(1), mode: 0o755, text: UEVENT_SCRIPT },
  { path: 'etc/acpi/PWRF/00000080', mode: 0o755, text: '#!/bin/sh\n# ACPI power button: a clean busybox-init shutdown.\nexec poweroff\n' },
  { path: 'etc/profile', mode: 0o644, text: PROFILE },
  { path: 'etc/hostname', mode: 0o644, text: 'lodge\n' },
  { path: 'etc/hosts', mode: 0o644, text: '127.0.0.1 localhost\n127.0.1.1 lodge\n' },
  { path: 'etc/passwd', mode: 0o644, text: 'root::0:0:root:/root:/bin/sh\n' },
  { path: 'etc/group', mode: 0o644, text: 'root:x:0:\ntty:x:5:\n' },
  { path: 'etc/shadow', mode: 0o600, text: 'root::19000:0:99999:7:::\n' },
  { path: 'etc/fstab', mode: 0o644, text: '/dev/vda / ext4 rw 0 1\n' },
  { path: GUEST_AGENT.run.slice(1), mode: 0o755, text: AGENT_RUN },
  { path: 'usr/bin/lodge-guest', mode: 0o755, text: LODGE_GUEST },
];
