import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LodgeError, type ImageEntry, type ImageInfo } from '@lodge/api';
import type { AgentFiles } from './agent-files.js';
import { CLOSURE_FLAGS, dependencyNames, fetchDebs, metapackageTarget, resolveVersions } from './debian-packages.js';
import { GUEST_PACKAGES, GUEST_PROGRAMS, PRUNED_PATHS } from './guest-userland.js';
import { removeStaleTemps, tempPrefix } from './image-folder.js';
import { recipeHash, writeManifest } from './image-manifest.js';
import { publishRecipe, startRecipe } from './recipe-start.js';
import { agentRecipeText } from './spawner-build.js';
import { assembleMicro, imageSize, MICRO_FILES } from './micro-assembly.js';
import { INITRAMFS_INIT, MICRO_BOOT_DRIVERS, MICRO_BOOT_MARKER, MICRO_ON_DEMAND_DRIVERS } from './micro-init.js';
import { MICRO_ROOT_DIRS, MICRO_ROOT_FILES, MICRO_ROOT_LINKS } from './micro-root.js';

export { MICRO_BOOT_MARKER } from './micro-init.js';

import type { BuildImageOptions } from './recipe-start.js';
export type { BuildImageOptions };

export const MICRO_IMAGE_NAME = 'micro';
/** Bump when the build steps change in a way the recipe texts below do not show. */
const BUILDER_VERSION = 'micro-builder/2';
const KERNEL_PACKAGE = 'linux-image-cloud-amd64';
const BUSYBOX_PACKAGE = 'busybox-static';
/** Room for the ~100 MiB of Node, glibc and friends plus what users put there; unused blocks cost nothing in the qcow2. */
const ROOT_DISK_MIB = 512;
/**
 * quiet: kernel messages on an emulated UART cost boot time; panic=-1: a panic resets (QEMU exits with -no-reboot);
 * cryptomgr.notests: the crypto self-tests take ~0.5 s of boot under TCG.
 */
export const MICRO_KERNEL_CMDLINE = 'console=ttyS0 root=/dev/vda rw quiet panic=-1 cryptomgr.notests';

/**
 * The recipe hash, from the recipe's own texts and the agent files' contents only: a cache hit needs no apt
 * lookup. A newer Debian package therefore does not invalidate the image by itself; `force` rebuilds with
 * whatever apt offers now. A changed agent does.
 */
export function microRecipeHash(agent: Pick<AgentFiles, 'sha256'>): string {
  const drivers = JSON.stringify([MICRO_BOOT_DRIVERS, MICRO_ON_DEMAND_DRIVERS]);
  const files = JSON.stringify([MICRO_ROOT_DIRS, MICRO_ROOT_LINKS, MICRO_ROOT_FILES, MICRO_FILES]);
  const userland = JSON.stringify([GUEST_PACKAGES, CLOSURE_FLAGS, PRUNED_PATHS, GUEST_PROGRAMS]);
  return recipeHash([
    BUILDER_VERSION, KERNEL_PACKAGE, BUSYBOX_PACKAGE, String(ROOT_DISK_MIB), MICRO_KERNEL_CMDLINE, MICRO_BOOT_MARKER, INITRAMFS_INIT,
    drivers, files, userland, agentRecipeText(agent),
  ]);
}

/**
 * Builds (or finds) the "micro" image: Debian cloud kernel, busybox initramfs, busybox-init ext4 root disk
 * with Debian's Node and QEMU guest agent (and their libraries) and the Lodge agent.
 */
export async function buildMicroImage(opts: BuildImageOptions): Promise<{ image: ImageEntry; cached: boolean }> {
  const { imagesDir, signal } = opts;
  const started = await startRecipe(MICRO_IMAGE_NAME, microRecipeHash, opts);
  if ('cached' in started) return started.cached;
  const { folder, hash, agent, progress } = started;
  progress('resolving packages', 0);
  // Two rounds of apt-cache: names, then every version in one policy call.
  const apt = { signal, cacheDir: join(imagesDir, '.cache', 'apt') };
  const [kernelName, userlandNames] = await Promise.all([
    metapackageTarget(KERNEL_PACKAGE, /^linux-image-\d.*-cloud-amd64$/, apt),
    dependencyNames(GUEST_PACKAGES, apt),
  ]);
  const [kernelPkg, busyboxPkg, ...userland] = await resolveVersions([kernelName, BUSYBOX_PACKAGE, ...userlandNames], apt);
  if (!kernelPkg || !busyboxPkg) throw new LodgeError('internal', 'resolveVersions returned fewer packages than names');
  progress('downloading packages', 5);
  const [kernelDeb, busyboxDeb, ...userlandDebs] = await fetchDebs([kernelPkg, busyboxPkg, ...userland], join(imagesDir, '.cache', 'debs'), signal);
  if (!kernelDeb || !busyboxDeb || userlandDebs.length !== userland.length) throw new LodgeError('internal', 'fetchDebs returned fewer files than packages');

  await mkdir(imagesDir, { recursive: true });
  await removeStaleTemps(imagesDir, MICRO_IMAGE_NAME);
  const tmp = await mkdtemp(join(imagesDir, tempPrefix(MICRO_IMAGE_NAME)));
  try {
    await chmod(tmp, 0o755); // mkdtemp makes it 0700; QEMU may run as another user than the builder
    const built = await assembleMicro({ out: tmp, kernelDeb, busyboxDeb, userlandDebs, agent, rootDiskMiB: ROOT_DISK_MIB, progress, signal });
    progress('writing manifest', 95);
    const files = { kernel: built.kernelFile, initrd: MICRO_FILES.initrd, disk: MICRO_FILES.disk };
    const info: ImageInfo = {
      name: MICRO_IMAGE_NAME,
      ...files,
      kernelCmdline: MICRO_KERNEL_CMDLINE,
      kernelVersion: built.kernelRelease,
      sizeBytes: await imageSize(tmp, Object.values(files)),
      builtAt: new Date().toISOString(),
      recipeHash: hash,
      bootMarker: MICRO_BOOT_MARKER,
      // busybox init runs no provisioner and no cloud-init: first-boot settings are refused for micro VMs.
      firstBoot: 'none',
    };
    // Extra fields (dropped by the ImageInfo schema) say exactly what went in, for humans and `force` decisions.
    const packages = Object.fromEntries([kernelPkg, busyboxPkg, ...userland].map((p) => [p.name, p.version]));
    await writeManifest(tmp, { ...info, packages, agent: agent.sha256, bootModules: built.bootModules, builtIn: built.builtIn, absentDrivers: built.absent });
    return await publishRecipe({ tmp, folder, hash, info, opts });
  } catch (err) {
    // The build's error is what the user needs; a failed clean-up leaves a stale temp that the next build removes.
    await rm(tmp, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
    throw signal?.aborted ? signal.reason : err;
  }
}
