import { mkdir, readFile } from 'node:fs/promises';
import { LodgeError } from '@lodge/api';
import { pipeCommand } from './host-command.js';

/** What goes into the debian-12 rootfs besides the essential set and apt (--variant=apt); no Recommends. fdisk: grow-root's sfdisk; socat: the agent's vsock side. */
export const DEBIAN_PACKAGES = [
  'systemd', 'systemd-sysv', 'udev', 'dbus', 'libpam-systemd', 'systemd-resolved',
  'linux-image-cloud-amd64', 'initramfs-tools', 'zstd', 'e2fsprogs', 'fdisk',
  'nodejs', 'socat', 'qemu-guest-agent', 'openssh-server', 'sudo', 'iproute2', 'procps',
  // What lodge-guest provision calls besides the essential set (coreutils' timeout, util-linux's runuser):
  // useradd/groupadd/usermod, mount/umount (isofs is a module of the cloud kernel, loaded by mount).
  'passwd', 'mount', 'kmod',
];

/** Leaner root: no manuals, docs (but their copyright files) or translations; apt fetches no translations. */
export const DEBIAN_LEAN_OPTIONS = [
  '--dpkgopt=path-exclude=/usr/share/man/*',
  '--dpkgopt=path-exclude=/usr/share/doc/*',
  '--dpkgopt=path-include=/usr/share/doc/*/copyright',
  '--dpkgopt=path-exclude=/usr/share/locale/*',
  '--dpkgopt=path-include=/usr/share/locale/locale.alias',
  '--dpkgopt=path-exclude=/usr/share/info/*',
  '--aptopt=Acquire::Languages "none"',
];

/** Single-quotes a path for the hooks' `sh -c`. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface RootfsOptions {
  codename: string;
  /** Target folder (must not exist or be empty). */
  target: string;
  /** Folder keeping downloaded .debs between builds. */
  debCache: string;
  /** Folder whose contents are copied over the rootfs before `customize` runs. */
  filesDir: string;
  /** Commands run with chroot in the finished rootfs. */
  customize: string[];
  /**
   * Folders of filesDir copied in before the packages beyond the essential set are installed, for configuration
   * their maintainer scripts read (initramfs-tools' builds the initrd once, from ours).
   */
  early?: readonly string[];
  /** A recipe's packages, installed with the base's (in the same apt run, so one dependency resolution). */
  packages?: readonly string[];
}

/** mmdebstrap's arguments: root mode into a directory, .debs kept in debCache, our files and commands last. */
export function mmdebstrapArgs(o: RootfsOptions): string[] {
  const cache = shellQuote(o.debCache);
  return [
    '--mode=root', '--format=directory', '--variant=apt', '--quiet',
    `--include=${[...DEBIAN_PACKAGES, ...(o.packages ?? [])].join(',')}`,
    ...DEBIAN_LEAN_OPTIONS,
    // apt reuses a .deb already in its archives folder when the hash matches: a second build downloads nothing.
    '--skip=essential/unlink',
    `--setup-hook=mkdir -p "$1/var/cache/apt/archives" && find ${cache} -maxdepth 1 -name '*.deb' -exec cp -t "$1/var/cache/apt/archives/" {} +`,
    ...(o.early ?? []).map((dir) => `--essential-hook=mkdir -p "$1/${dir}" && cp -a ${shellQuote(`${o.filesDir}/${dir}/.`)} "$1/${dir}/"`),
    `--customize-hook=find "$1/var/cache/apt/archives" -maxdepth 1 -name '*.deb' -exec cp -u -t ${cache} {} +`,
    `--customize-hook=cp -a ${shellQuote(`${o.filesDir}/.`)} "$1/"`,
    ...o.customize.map((c) => `--customize-hook=chroot "$1" sh -c ${shellQuote(c)}`),
    o.codename, o.target, '-',
  ];
}

/** Builds the rootfs with mmdebstrap (as root: its files must belong to the guest's users); sources on stdin. */
export async function buildRootfs(o: RootfsOptions & { sources: string; log: string; signal?: AbortSignal }): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new LodgeError('host_unsupported', `building the ${o.codename} image needs root (mmdebstrap --mode=root); this daemon runs as uid ${process.getuid?.() ?? '?'}`, {
      hint: 'run lodged as root to build Debian images',
    });
  }
  await mkdir(o.debCache, { recursive: true });
  await pipeCommand('mmdebstrap', mmdebstrapArgs(o), { input: o.sources, outputFile: o.log, signal: o.signal });
}

/** Mount points at or below dir in a mountinfo text (field 5, octal escapes decoded). */
export function mountsUnder(mountinfo: string, dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return mountinfo
    .split('\n')
    .map((line) => (line.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))))
    .filter((m) => m === dir || m.startsWith(prefix));
}

/**
 * Refuses to let a failed build's folder be removed while mmdebstrap (killed mid-build) left /proc, /sys or /dev
 * mounted in it: a recursive rm would reach into the host's.
 */
export async function assertNothingMounted(dir: string): Promise<void> {
  const left = mountsUnder(await readFile('/proc/self/mountinfo', 'utf8').catch(() => ''), dir);
  if (left.length > 0) {
    throw new LodgeError('internal', `the failed build left file systems mounted in ${dir}: ${left.join(', ')}`, {
      hint: `unmount them (umount -R ${left[0] ?? dir}), then remove ${dir}`,
      details: { mounts: left },
    });
  }
}
