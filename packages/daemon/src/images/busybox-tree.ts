import { chmod, copyFile, mkdir, readdir, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runCommand } from './host-command.js';

/**
 * Installs a static busybox at stageDir/bin/busybox with a symlink per applet at its canonical path
 * (what `busybox --install -s` does in a guest, done on the host so the image needs no first-boot step).
 */
export async function installBusybox(stageDir: string, busybox: string, signal?: AbortSignal): Promise<number> {
  // busybox-static runs on the build host too; it is the authority on its own applet list.
  const list = await runCommand(busybox, ['--list-full'], { signal });
  await mkdir(join(stageDir, 'bin'), { recursive: true });
  await copyFile(busybox, join(stageDir, 'bin/busybox'));
  await chmod(join(stageDir, 'bin/busybox'), 0o755);
  let links = 0;
  for (const path of appletPaths(list)) {
    await mkdir(dirname(join(stageDir, path)), { recursive: true });
    await symlink('/bin/busybox', join(stageDir, path)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    links++;
  }
  return links;
}

/** Applet paths from `busybox --list-full`, skipping busybox itself and top-level names like linuxrc. */
export function appletPaths(list: string): string[] {
  return list
    .split('\n')
    .map((l) => l.trim().replace(/^\/+/, ''))
    .filter((p) => p.includes('/') && p !== 'bin/busybox' && !p.split('/').includes('..'));
}

/** Every path under root, relative, parents before children, sorted (a stable cpio file list). */
export async function listTree(root: string, prefix = '.'): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(join(root, prefix), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const rel = `${prefix}/${e.name}`;
    out.push(rel);
    if (e.isDirectory()) out.push(...(await listTree(root, rel)));
  }
  return out;
}
