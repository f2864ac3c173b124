import { createGzip } from 'node:zlib';
import { pipeCommand } from './host-command.js';
import { listTree } from './busybox-tree.js';

export interface InitramfsOptions {
  /** The folder that becomes the initramfs root (must hold an executable /init). */
  stageDir: string;
  /** Where the gzip-compressed newc archive is written. */
  output: string;
  signal?: AbortSignal;
}

/** Packs stageDir into a gzip'd newc cpio, every file owned by root whoever builds it. */
export async function buildInitramfs(opts: InitramfsOptions): Promise<void> {
  const files = await listTree(opts.stageDir);
  await pipeCommand('cpio', ['--create', '--format=newc', '--owner=0:0', '--reproducible', '--quiet', '--null'], {
    cwd: opts.stageDir,
    signal: opts.signal,
    input: files.map((f) => `${f}\0`).join(''),
    outputFile: opts.output,
    // Level 6: the kernel inflates it in a few ms even under TCG; -9 saves little on busybox and .ko files.
    transform: createGzip({ level: 6 }),
  });
}
