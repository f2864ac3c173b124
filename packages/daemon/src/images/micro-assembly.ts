import { chmod, copyFile, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AgentFiles } from './agent-files.js';
import { agentGuestFiles } from './spawner-build.js';
import { installBusybox } from './busybox-tree.js';
import { unpackDeb } from './debian-packages.js';
import { installUserland } from './guest-userland.js';
import { buildInitramfs } from './initramfs.js';
import { parseKernelConfig, selectDrivers } from './kernel-modules.js';
import { BOOT_MODULES_FILE, INITRAMFS_INIT, MICRO_BOOT_DRIVERS, MICRO_ON_DEMAND_DRIVERS } from './micro-init.js';
import { MICRO_ROOT_DIRS, MICRO_ROOT_FILES, MICRO_ROOT_LINKS, type RootFile } from './micro-root.js';
import { extractVmlinux } from './kernel-image.js';
import { readKernelTree, stageModuleTree, type KernelTree } from './module-files.js';
import { buildRootDisk } from './root-disk.js';

/** File names inside the image folder (the manifest names them; VMs never guess them). */
export const MICRO_FILES = { vmlinux: 'vmlinux', bzImage: 'vmlinuz', initrd: 'initrd.img', disk: 'disk.qcow2' } as const;

export interface AssemblyOptions {
  /** The image folder being filled (a temp folder until published). */
  out: string;
  kernelDeb: string;
  busyboxDeb: string;
  /** The guest packages' dependency closure (nodejs, qemu-guest-agent, glibc...), unpacked into the root disk. */
  userlandDebs: string[];
  agent: AgentFiles;
  rootDiskMiB: number;
  progress: (step: string, percent: number) => void;
  signal?: AbortSignal;
}

export interface Assembly {
  /** vmlinux (PVH-bootable ELF) when the kernel supports it, else the bzImage. */
  kernelFile: string;
  kernelRelease: string;
  bootModules: string[];
  builtIn: string[];
  absent: string[];
}

/** Writes files under root with their exact modes. */
export async function writeFiles(root: string, files: (Omit<RootFile, 'text'> & { text: string | Buffer })[]): Promise<void> {
  for (const f of files) {
    await mkdir(dirname(join(root, f.path)), { recursive: true });
    await writeFile(join(root, f.path), f.text);
    await chmod(join(root, f.path), f.mode); // explicit: writeFile's mode is filtered by the umask
  }
}

/** Unpacks kernel and busybox, extracts the kernel image into out, and builds the initramfs. */
async function kernelAndInitramfs(
  opts: AssemblyOptions, kernelRoot: string, busyboxRoot: string, initStage: string,
): Promise<{ kernel: KernelTree; config: Map<string, string>; pvh: boolean; boot: ReturnType<typeof selectDrivers> }> {
  const { out, signal, progress } = opts;
  progress('unpacking kernel', 20);
  await unpackDeb(opts.kernelDeb, kernelRoot, signal);
  await unpackDeb(opts.busyboxDeb, busyboxRoot, signal);
  const busybox = join(busyboxRoot, 'bin/busybox');
  const kernel = await readKernelTree(kernelRoot, busybox, signal);
  const config = parseKernelConfig(await readFile(join(kernelRoot, 'boot', `config-${kernel.release}`), 'utf8'));
  const bzImage = join(kernelRoot, 'boot', `vmlinuz-${kernel.release}`);
  const pvh = config.get('PVH') === 'y' && (await extractVmlinux(bzImage, join(out, MICRO_FILES.vmlinux), signal));
  if (!pvh) await copyFile(bzImage, join(out, MICRO_FILES.bzImage));

  progress('building initramfs', 45);
  const boot = selectDrivers(config, MICRO_BOOT_DRIVERS);
  await installBusybox(initStage, busybox, signal);
  for (const d of ['dev', 'proc', 'newroot']) await mkdir(join(initStage, d), { recursive: true });
  await stageModuleTree(kernel, boot.modules, initStage, signal);
  await writeFiles(initStage, [
    { path: 'init', mode: 0o755, text: INITRAMFS_INIT },
    { path: BOOT_MODULES_FILE, mode: 0o644, text: `${boot.modules.join(' ')}\n` },
  ]);
  await buildInitramfs({ stageDir: initStage, output: join(out, MICRO_FILES.initrd), signal });
  return { kernel, config, pvh, boot };
}

/** Builds kernel, initramfs and root disk into opts.out from the .debs and the agent files; scratch space lives in out/.work. */
export async function assembleMicro(opts: AssemblyOptions): Promise<Assembly> {
  const { out, signal, progress } = opts;
  const work = join(out, '.work');
  const [kernelRoot, busyboxRoot, initStage, rootStage] = ['kernel', 'busybox', 'initramfs', 'root'].map((d) => join(work, d)) as [string, string, string, string];
  // The guest packages unpack into the root stage while the kernel and initramfs are made (two cores' worth).
  // Packages first: busybox then adds an applet link only where no package put a real program.
  const userland = installUserland(rootStage, opts.userlandDebs, signal);
  userland.catch(() => undefined); // awaited below, or settled before an earlier failure is thrown
  const { kernel, config, pvh, boot } = await kernelAndInitramfs(opts, kernelRoot, busyboxRoot, initStage).catch(async (err: unknown) => {
    await userland.catch(() => undefined); // never leave dpkg-deb writing into a folder the caller removes
    throw err;
  });
  const busybox = join(busyboxRoot, 'bin/busybox');
  progress('unpacking guest packages', 55);
  await userland;
  progress('building root disk', 65);
  await installBusybox(rootStage, busybox, signal);
  for (const d of MICRO_ROOT_DIRS) await mkdir(join(rootStage, d), { recursive: true });
  for (const [path, target] of Object.entries(MICRO_ROOT_LINKS)) {
    await rm(join(rootStage, path), { recursive: true, force: true });
    await symlink(target, join(rootStage, path));
  }
  await writeFiles(rootStage, MICRO_ROOT_FILES);
  await writeFiles(rootStage, await agentGuestFiles(opts.agent, work, signal));
  const onDemand = selectDrivers(config, MICRO_ON_DEMAND_DRIVERS);
  await stageModuleTree(kernel, [...boot.modules, ...onDemand.modules], rootStage, signal);
  await chmod(join(rootStage, 'tmp'), 0o1777);
  await chmod(join(rootStage, 'root'), 0o700);
  await buildRootDisk(
    { stageDir: rootStage, rawFile: join(work, 'disk.raw'), output: join(out, MICRO_FILES.disk), sizeMiB: opts.rootDiskMiB, label: 'lodge-root', signal },
    () => progress('converting to qcow2', 85),
  );
  await rm(work, { recursive: true, force: true });
  const kernelFile = pvh ? MICRO_FILES.vmlinux : MICRO_FILES.bzImage;
  return { kernelFile, kernelRelease: kernel.release, bootModules: boot.modules, builtIn: boot.builtIn, absent: [...boot.absent, ...onDemand.absent] };
}

/** Sum of the image's files' sizes, as the manifest's sizeBytes. */
export async function imageSize(out: string, files: string[]): Promise<number> {
  let total = 0;
  for (const f of files) total += (await stat(join(out, f))).size;
  return total;
}
