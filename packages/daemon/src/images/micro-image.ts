import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LodgeError, type ImageEntry, type ImageInfo } from '@lodge/api';
import { fetchDebs, resolveMetapackage, resolvePackage } from './debian-packages.js';
import { publishFolder, removeStaleTemps, tempPrefix } from './image-folder.js';
import { readManifest, recipeHash, writeManifest } from './image-manifest.js';
import { assembleMicro, imageSize, MICRO_FILES } from './micro-assembly.js';
import { INITRAMFS_INIT, MICRO_BOOT_DRIVERS, MICRO_BOOT_MARKER, MICRO_ON_DEMAND_DRIVERS } from './micro-init.js';
import { MICRO_ROOT_DIRS, MICRO_ROOT_FILES } from './micro-root.js';

export { MICRO_BOOT_MARKER } from './micro-init.js';

export interface BuildImageOptions {
  imagesDir: string;
  force?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: { step: string; percent?: number }) => void;
  /** Called before an existing image would be replaced; throwing stops the build (VMs may be based on it). */
  beforeReplace?: (why: string) => void;
}

export const MICRO_IMAGE_NAME = 'micro';
/** Bump when the build steps change in a way the recipe texts below do not show. */
const BUILDER_VERSION = 'micro-builder/1';
const KERNEL_PACKAGE = 'linux-image-cloud-amd64';
const BUSYBOX_PACKAGE = 'busybox-static';
const ROOT_DISK_MIB = 256;
/**
 * quiet: kernel messages on an emulated UART cost boot time; panic=-1: a panic resets (QEMU exits with -no-reboot);
 * cryptomgr.notests: the crypto self-tests take ~0.5 s of boot under TCG.
 */
export const MICRO_KERNEL_CMDLINE = 'console=ttyS0 root=/dev/vda rw quiet panic=-1 cryptomgr.notests';

/**
 * The recipe hash, from the recipe's own texts only: a cache hit needs no apt lookup. A newer Debian package
 * therefore does not invalidate the image by itself; `force` rebuilds with whatever apt offers now.
 */
export function microRecipeHash(): string {
  const drivers = JSON.stringify([MICRO_BOOT_DRIVERS, MICRO_ON_DEMAND_DRIVERS]);
  const files = JSON.stringify([MICRO_ROOT_DIRS, MICRO_ROOT_FILES, MICRO_FILES]);
  return recipeHash([BUILDER_VERSION, KERNEL_PACKAGE, BUSYBOX_PACKAGE, String(ROOT_DISK_MIB), MICRO_KERNEL_CMDLINE, MICRO_BOOT_MARKER, INITRAMFS_INIT, drivers, files]);
}

/** Builds (or finds) the "micro" image: Debian cloud kernel, busybox initramfs, busybox-init ext4 root disk. */
export async function buildMicroImage(opts: BuildImageOptions): Promise<{ image: ImageEntry; cached: boolean }> {
  const { imagesDir, signal } = opts;
  const folder = join(imagesDir, MICRO_IMAGE_NAME);
  const hash = microRecipeHash();
  const existing = await readManifest(folder);
  if (!opts.force && existing?.recipeHash === hash) return { image: { ...existing, folder }, cached: true };
  if (existing) opts.beforeReplace?.(opts.force ? 'a forced rebuild' : 'its recipe changed');
  // Every step boundary is also an abort point, so fs-only stretches stop promptly too.
  const progress = (step: string, percent: number): void => {
    signal?.throwIfAborted();
    opts.onProgress?.({ step, percent });
  };
  progress('resolving packages', 0);
  const [kernelPkg, busyboxPkg] = await Promise.all([
    resolveMetapackage(KERNEL_PACKAGE, /^linux-image-\d.*-cloud-amd64$/, signal),
    resolvePackage(BUSYBOX_PACKAGE, signal),
  ]);
  progress('downloading packages', 5);
  const [kernelDeb, busyboxDeb] = await fetchDebs([kernelPkg, busyboxPkg], join(imagesDir, '.cache', 'debs'), signal);
  if (!kernelDeb || !busyboxDeb) throw new LodgeError('internal', 'fetchDebs returned fewer files than packages');

  await mkdir(imagesDir, { recursive: true });
  await removeStaleTemps(imagesDir, MICRO_IMAGE_NAME);
  const tmp = await mkdtemp(join(imagesDir, tempPrefix(MICRO_IMAGE_NAME)));
  try {
    await chmod(tmp, 0o755); // mkdtemp makes it 0700; QEMU may run as another user than the builder
    const built = await assembleMicro({ out: tmp, kernelDeb, busyboxDeb, rootDiskMiB: ROOT_DISK_MIB, progress, signal });
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
    };
    // Extra fields (dropped by the ImageInfo schema) say exactly what went in, for humans and `force` decisions.
    const packages = { [kernelPkg.name]: kernelPkg.version, [busyboxPkg.name]: busyboxPkg.version };
    await writeManifest(tmp, { ...info, packages, bootModules: built.bootModules, builtIn: built.builtIn, absentDrivers: built.absent });
    signal?.throwIfAborted();
    await publishFolder(tmp, folder).catch(async (err: NodeJS.ErrnoException) => {
      // Another process published the same recipe between our two renames: theirs is as good as ours.
      if ((err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') || (await readManifest(folder))?.recipeHash !== hash) throw err;
      await rm(tmp, { recursive: true, force: true });
    });
    opts.onProgress?.({ step: 'done', percent: 100 });
    return { image: { ...((await readManifest(folder)) ?? info), folder }, cached: false };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw signal?.aborted ? signal.reason : err;
  }
}
