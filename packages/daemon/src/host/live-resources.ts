import { statfs } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';

export interface CpuInfo {
  count: number;
  model: string;
}

export interface DiskSpace {
  path: string;
  freeBytes: number;
  totalBytes: number;
}

/** Logical CPU count and the first CPU's model name. */
export function readCpuInfo(): CpuInfo {
  const list = cpus();
  // os.cpus() is empty where /proc/cpuinfo is hidden; availableParallelism still answers.
  const count = list.length > 0 ? list.length : availableParallelism();
  return { count, model: list[0]?.model.trim() || 'unknown' };
}

/** Free space for unprivileged writers (bavail, not bfree) on the filesystem holding path. */
export async function readDiskSpace(path: string): Promise<DiskSpace> {
  const fs = await statfs(path);
  return { path, freeBytes: fs.bavail * fs.bsize, totalBytes: fs.blocks * fs.bsize };
}
