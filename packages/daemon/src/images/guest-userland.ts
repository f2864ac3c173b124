import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LodgeError } from '@lodge/api';
import { unpackDeb } from './debian-packages.js';
import { missingLibraries } from './elf-deps.js';

/**
 * Debian packages whose dependency closure goes into the root disk next to busybox (which stays init and shell);
 * bsdutils brings util-linux `script`, the agent's pseudo-terminal (Node has none without native modules);
 * e2fsprogs brings mkfs.ext4, e2fsck and resize2fs for disks grown live, with its libraries named here because
 * they are Pre-Depends, which the closure leaves out; socat carries the agent's vsock side (Node has no AF_VSOCK).
 */
export const GUEST_PACKAGES = ['nodejs', 'qemu-guest-agent', 'bsdutils', 'socat', 'e2fsprogs', 'libext2fs2', 'libcom-err2', 'libss2', 'libuuid1', 'libblkid1'];

/** Programs that must find their loader and every shared library inside the image; the build checks them. */
export const GUEST_PROGRAMS = ['/usr/bin/node', '/usr/sbin/qemu-ga', '/usr/bin/script', '/usr/bin/socat', '/sbin/mke2fs', '/sbin/e2fsck', '/sbin/resize2fs'];

/**
 * Removed after unpacking: documentation, translations, other init systems' files, glibc's iconv modules
 * (UTF-8, ASCII and Latin-1 conversions are built into libc; nothing here converts other charsets).
 */
export const PRUNED_PATHS = [
  'usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/locale', 'usr/share/lintian', 'usr/share/bug',
  'usr/share/gdb', 'usr/share/gcc', 'usr/share/systemtap', 'usr/share/bash-completion',
  'usr/lib/x86_64-linux-gnu/gconv', 'lib/systemd', 'lib/udev', 'etc/init.d/qemu-guest-agent',
];

/** Unpacks the packages' files (no maintainer scripts: libraries and programs need none) into root. */
export async function installUserland(root: string, debs: string[], signal?: AbortSignal): Promise<void> {
  // Two at a time: dpkg-deb spends its time decompressing, and the build host has few cores.
  const queue = [...debs];
  let failed = false;
  const worker = async (): Promise<void> => {
    for (let deb = queue.shift(); deb !== undefined && !failed; deb = queue.shift()) {
      await unpackDeb(deb, root, signal).catch((err: unknown) => {
        failed = true;
        throw err;
      });
    }
  };
  // Both workers settle before the failure is thrown: the caller removes root, and a dpkg-deb still writing
  // into it made that removal fail (ENOTEMPTY) on a full disk.
  const failure = (await Promise.allSettled([worker(), worker()])).find((r) => r.status === 'rejected');
  if (failure) throw failure.reason;
  for (const p of PRUNED_PATHS) await rm(join(root, p), { recursive: true, force: true });
  const missing = await missingLibraries(root, GUEST_PROGRAMS);
  if (missing.length > 0) {
    throw new LodgeError('image_unavailable', `the guest userland lacks shared libraries: ${missing.join(', ')}`, {
      hint: 'a dependency apt did not list; report it with the packages in the image manifest',
      details: { missing },
    });
  }
}
