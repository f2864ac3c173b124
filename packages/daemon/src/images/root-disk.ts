import { rm } from 'node:fs/promises';
import { runCommand } from './host-command.js';

export interface RootDiskOptions {
  /** The folder whose contents become the filesystem's root. */
  stageDir: string;
  /** Scratch raw image, removed once converted. */
  rawFile: string;
  /** The qcow2 base that VMs get copy-on-write overlays on. */
  output: string;
  sizeMiB: number;
  label: string;
  /** Compressed qcow2 clusters: a smaller image, read back at a small CPU cost. */
  compress?: boolean;
  signal?: AbortSignal;
}

/** Makes an ext4 filesystem from a folder with `mke2fs -d` (nothing is mounted, no root needed), then converts it to qcow2. */
export async function buildRootDisk(opts: RootDiskOptions, onConverting?: () => void): Promise<void> {
  const { signal } = opts;
  try {
    await runCommand(
      'mke2fs',
      ['-q', '-F', '-t', 'ext4', '-L', opts.label, '-m', '0', '-E', 'root_owner=0:0', '-d', opts.stageDir, opts.rawFile, `${opts.sizeMiB}M`],
      { signal },
    );
    onConverting?.();
    // Blocks mke2fs left zero stay unallocated in the qcow2, so a roomy filesystem costs little on disk.
    await runCommand('qemu-img', ['convert', '-q', ...(opts.compress ? ['-c'] : []), '-f', 'raw', '-O', 'qcow2', opts.rawFile, opts.output], { signal });
  } finally {
    await rm(opts.rawFile, { force: true });
  }
}
