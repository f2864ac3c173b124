import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LodgeError } from '@lodge/api';
import { pipeCommand, runCommand } from './host-command.js';
import { loadOrder, moduleName, parseModulesDep } from './kernel-modules.js';

/** An unpacked kernel package: its release (uname -r) and module tree. */
export interface KernelTree {
  release: string;
  modulesDir: string;
  modulesDep: ReturnType<typeof parseModulesDep>;
}

/** Finds the single release under root/lib/modules and reads its modules.dep, generating it with busybox depmod when absent. */
export async function readKernelTree(root: string, busybox: string, signal?: AbortSignal): Promise<KernelTree> {
  const releases = await readdir(join(root, 'lib/modules')).catch(() => [] as string[]);
  const release = releases[0];
  if (releases.length !== 1 || release === undefined) {
    throw new LodgeError('internal', `expected one kernel release in the kernel package, found ${releases.length}`);
  }
  const modulesDir = join(root, 'lib/modules', release);
  // Debian ships no modules.dep (its postinst runs depmod); busybox's depmod makes one without kmod on the host.
  let text = await readFile(join(modulesDir, 'modules.dep'), 'utf8').catch(() => undefined);
  if (text === undefined) {
    await runCommand(busybox, ['depmod', '-b', root, release], { signal });
    text = await readFile(join(modulesDir, 'modules.dep'), 'utf8');
  }
  return { release, modulesDir, modulesDep: parseModulesDep(text) };
}

const DECOMPRESSORS: Record<string, string> = { '.xz': 'xz', '.zst': 'zstd', '.gz': 'gzip' };

/** Copies a module, decompressing .ko.xz/.zst/.gz: busybox modprobe loads plain ELF objects only. */
async function copyModule(src: string, dest: string, signal?: AbortSignal): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  const ext = /\.ko(\.\w+)$/.exec(src)?.[1];
  const tool = ext === undefined ? undefined : DECOMPRESSORS[ext];
  if (ext === undefined) await copyFile(src, dest);
  else if (tool) await pipeCommand(tool, ['-dc', src], { input: '', outputFile: dest, signal });
  else throw new LodgeError('internal', `cannot decompress kernel module ${src}`);
}

/** Copies modules with their dependencies into root/lib/modules/<release> with a matching modules.dep, for busybox modprobe. */
export async function stageModuleTree(kernel: KernelTree, wanted: string[], root: string, signal?: AbortSignal): Promise<void> {
  const { paths, missing } = loadOrder(kernel.modulesDep, wanted);
  if (missing.length > 0) throw new LodgeError('internal', `modules.dep of ${kernel.release} lacks ${missing.join(', ')}`);
  const dest = join(root, 'lib/modules', kernel.release);
  const plain = (p: string): string => p.replace(/\.ko\.\w+$/, '.ko');
  const lines: string[] = [];
  for (const p of paths) {
    await copyModule(join(kernel.modulesDir, p), join(dest, plain(p)), signal);
    // kmod's convention, which busybox modprobe follows: all transitive deps, the one to load first listed last.
    const deps = loadOrder(kernel.modulesDep, [moduleName(p)]).paths.slice(0, -1).reverse();
    lines.push(`${plain(p)}: ${deps.map(plain).join(' ')}`.trimEnd());
  }
  await mkdir(dest, { recursive: true });
  await writeFile(join(dest, 'modules.dep'), `${lines.join('\n')}\n`);
  await copyFile(join(kernel.modulesDir, 'modules.builtin'), join(dest, 'modules.builtin')).catch(() => undefined);
}
