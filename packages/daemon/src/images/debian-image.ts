import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageEntry, ImageInfo, ImageRecipe } from '@lodge/api';
import type { AgentFiles } from './agent-files.js';
import { agentGuestFiles, agentRecipeText } from './spawner-build.js';
import { hostReleaseSources } from './apt-sources.js';
import { buildDebianDisk, debianGrubTexts } from './debian-disk.js';
import { DEBIAN_BOOT_MARKER, DEBIAN_CUSTOMIZE, DEBIAN_EARLY_FILES, DEBIAN_KERNEL_CMDLINE, DEBIAN_ROOT_FILES, MACHINE_ID_TEXT } from './debian-root.js';
import { GRUB_RECIPE_TEXTS } from './grub-boot.js';
import { assertNothingMounted, buildRootfs, mmdebstrapArgs } from './debian-rootfs.js';
import { removeStaleTemps, tempPrefix } from './image-folder.js';
import { recipeHash, writeManifest } from './image-manifest.js';
import { publishRecipe, startRecipe } from './recipe-start.js';
import { imageSize, writeFiles } from './micro-assembly.js';
import type { BuildImageOptions } from './recipe-start.js';
import { runCommand } from './host-command.js';
import { checkRecipePackages } from './recipe-check.js';

export const DEBIAN_IMAGE_NAME = 'debian-12';
const CODENAME = 'bookworm';
/** Bump when the build steps change in a way the recipe texts below do not show. */
const BUILDER_VERSION = 'debian-builder/1';
/** The base file system; a VM's disk is at least this big and its root grows to it at first boot (grow-root). */
const ROOT_DISK_MIB = 2048;
export { DEBIAN_KERNEL_CMDLINE };

/**
 * The recipe hash: every text that shapes the image (mmdebstrap's arguments with placeholder paths) and the agent
 * files; for a YAML recipe built on debian-12, the recipe too (debian-12's own hash stays what it was).
 */
export function debianRecipeHash(agent: Pick<AgentFiles, 'sha256'>, recipe?: ImageRecipe): string {
  const args = mmdebstrapArgs({ codename: CODENAME, target: 'TARGET', debCache: 'CACHE', filesDir: 'FILES', customize: DEBIAN_CUSTOMIZE, early: DEBIAN_EARLY_FILES, packages: recipe?.packages });
  return recipeHash([
    BUILDER_VERSION, JSON.stringify(args), JSON.stringify(DEBIAN_ROOT_FILES), MACHINE_ID_TEXT, String(ROOT_DISK_MIB),
    DEBIAN_KERNEL_CMDLINE, DEBIAN_BOOT_MARKER, agentRecipeText(agent),
    ...(recipe ? [JSON.stringify(recipe)] : []),
    ...(recipe?.boot === 'grub' ? [...debianGrubTexts(), ...GRUB_RECIPE_TEXTS] : []),
  ]);
}

/** Installed packages and versions, read from the rootfs's dpkg database. */
async function installedPackages(rootfs: string, signal?: AbortSignal): Promise<Record<string, string>> {
  const out = await runCommand('dpkg-query', [`--admindir=${join(rootfs, 'var/lib/dpkg')}`, '-W', '-f', '${Package}\t${Version}\n'], { signal });
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split('\t') as [string, string]));
}

/**
 * Builds (or finds) the "debian-12" image: an mmdebstrap'd Debian 12 with systemd, apt, the cloud kernel,
 * Node and the Lodge agent, qemu-guest-agent and sshd, as a compressed qcow2 plus kernel and initrd. With a
 * YAML recipe (base: debian-12), the image of that name with the recipe's packages installed too.
 */
export async function buildDebianImage(opts: BuildImageOptions, recipe?: ImageRecipe): Promise<{ image: ImageEntry; cached: boolean }> {
  const { imagesDir, signal } = opts;
  const name = recipe?.name ?? DEBIAN_IMAGE_NAME;
  const started = await startRecipe(name, (agent) => debianRecipeHash(agent, recipe), opts);
  if ('cached' in started) return started.cached;
  const { folder, hash, agent, progress } = started;
  progress('checking packages with apt', 0);
  if (recipe) await checkRecipePackages(recipe, { signal, cacheDir: join(imagesDir, '.cache', 'apt') });
  const sources = await hostReleaseSources(CODENAME);
  await mkdir(imagesDir, { recursive: true });
  await removeStaleTemps(imagesDir, name);
  const tmp = await mkdtemp(join(imagesDir, tempPrefix(name)));
  try {
    await chmod(tmp, 0o755); // mkdtemp makes it 0700; QEMU may run as another user than the builder
    const work = join(tmp, '.work');
    const [rootfs, filesDir] = [join(work, 'root'), join(work, 'files')];
    await writeFiles(filesDir, [
      ...DEBIAN_ROOT_FILES,
      ...(await agentGuestFiles(agent, work, signal)),
    ]);
    progress('bootstrapping Debian (mmdebstrap)', 5);
    const debCache = join(imagesDir, '.cache', `${DEBIAN_IMAGE_NAME}-debs`);
    await buildRootfs({ codename: CODENAME, target: rootfs, debCache, filesDir, customize: DEBIAN_CUSTOMIZE, early: DEBIAN_EARLY_FILES, packages: recipe?.packages, sources, log: join(work, 'mmdebstrap.log'), signal });
    await writeFile(join(rootfs, 'etc/machine-id'), MACHINE_ID_TEXT);
    const packages = await installedPackages(rootfs, signal);
    const boot = await buildDebianDisk({ rootfs, out: tmp, rawFile: join(work, 'disk.raw'), sizeMiB: ROOT_DISK_MIB, boot: recipe?.boot ?? 'direct', progress, signal });
    await rm(work, { recursive: true, force: true });
    progress('writing manifest', 95);
    const files = [boot.kernel, boot.initrd, boot.disk].filter((f) => f !== undefined);
    const info: ImageInfo = {
      name, ...boot,
      sizeBytes: await imageSize(tmp, files), builtAt: new Date().toISOString(), recipeHash: hash, bootMarker: DEBIAN_BOOT_MARKER,
      recipe: recipe ? { name, description: recipe.description, base: recipe.base, packages: recipe.packages } : { name },
      firstBoot: 'lodge',
    };
    await writeManifest(tmp, { ...info, packages, agent: agent.sha256 });
    return await publishRecipe({ tmp, folder, hash, info, opts });
  } catch (err) {
    await assertNothingMounted(tmp);
    await rm(tmp, { recursive: true, force: true });
    throw signal?.aborted ? signal.reason : err;
  }
}
