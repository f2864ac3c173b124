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

export interface Ext4Options {
  stageDir: string;
  file: string;
  sizeMiB: number;
  label: string;
  /** Where in the file the file system starts (a partition's offset); default 0. */
  offsetBytes?: number;
  uuid?: string;
  signal?: AbortSignal;
}

/** Makes an ext4 filesystem from a folder with `mke2fs -d` (nothing is mounted, no root needed). */
export async function makeExt4(o: Ext4Options): Promise<void> {
  const extended = ['root_owner=0:0', ...(o.offsetBytes ? [`offset=${o.offsetBytes}`] : [])].join(',');
  await runCommand(
    'mke2fs',
    ['-q', '-F', '-t', 'ext4', '-L', o.label, ...(o.uuid ? ['-U', o.uuid] : []), '-m', '0', '-E', extended, '-d', o.stageDir, o.file, `${o.sizeMiB}M`],
    { signal: o.signal },
  );
}

/** Blocks left zero stay unallocated in the qcow2, so a roomy filesystem costs little on disk. */
export async function rawToQcow2(raw: string, output: string, compress: boolean | undefined, signal?: AbortSignal): Promise<void> {
  await runCommand('qemu-img', ['convert', '-q', ...(compress ? ['-c'] : []), '-f', 'raw', '-O', 'qcow2', raw, output], { signal });
}

/** An ext4 filesystem made from a folder, as the whole of a qcow2 disk (no partition table). */
export async function buildRootDisk(opts: RootDiskOptions, onConverting?: () => void): Promise<void> {
  try {
    await makeExt4({ stageDir: opts.stageDir, file: opts.rawFile, sizeMiB: opts.sizeMiB, label: opts.label, signal: opts.signal });
    onConverting?.();
    await rawToQcow2(opts.rawFile, opts.output, opts.compress, opts.signal);
  } finally {
    await rm(opts.rawFile, { force: true });
  }
}
