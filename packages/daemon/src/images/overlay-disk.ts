import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { formatSize, LodgeError, type ImageDiskFacts } from '@lodge/api';

const run = promisify(execFile);

/** Virtual size of a disk image; qemu-img is told the format so a hostile header cannot change it. */
export async function virtualSize(qemuImg: string, path: string, format = 'qcow2'): Promise<number> {
  const { stdout } = await run(qemuImg, ['info', '--output=json', '-f', format, path]);
  return (JSON.parse(stdout) as { 'virtual-size': number })['virtual-size'];
}

/** Format, virtual size and bytes on the host of an image's base disk (our own qcow2, so the format is given). */
export async function diskFacts(qemuImg: string, path: string): Promise<ImageDiskFacts> {
  const { stdout } = await run(qemuImg, ['info', '--output=json', '-f', 'qcow2', path]);
  const info = JSON.parse(stdout) as { format: string; 'virtual-size': number; 'actual-size': number };
  return { format: info.format, virtualSizeBytes: info['virtual-size'], actualSizeBytes: info['actual-size'] };
}

/** A copy-on-write qcow2 overlay of `base`, `size` bytes large (never smaller than the base). */
export async function createOverlay(opts: { qemuImg: string; base: string; path: string; size: number }): Promise<void> {
  const baseSize = await virtualSize(opts.qemuImg, opts.base);
  if (opts.size < baseSize) {
    throw new LodgeError('invalid_argument', `disk ${formatSize(opts.size)} is smaller than the image's ${formatSize(baseSize)}`, {
      hint: `use --disk ${formatSize(baseSize)} or more`,
    });
  }
  try {
    await run(opts.qemuImg, ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', opts.base, opts.path, String(opts.size)]);
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new LodgeError('qemu_failed', `cannot create disk ${opts.path}: ${stderr || (err as Error).message}`, {
      hint: 'check free space and permissions in the data folder',
      cause: err,
    });
  }
}
