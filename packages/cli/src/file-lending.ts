import { readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PID_FILE } from '@lodge/api/lite';

/**
 * Whether lodged can open this process's files through /proc/<pid>/fd, so big files skip the socket (docs/api.md,
 * lent files): the lodged serving this data folder (its pid file) runs in our pid namespace. A CLI in a container
 * that reaches lodged's socket from elsewhere sends the bytes over the socket, as always.
 */
export async function canLendFiles(root: string): Promise<boolean> {
  try {
    const pid = Number((await readFile(join(root, PID_FILE), 'utf8')).trim());
    if (!Number.isInteger(pid) || pid <= 0) return false;
    const [ours, theirs] = await Promise.all([readlink('/proc/self/ns/pid'), readlink(`/proc/${pid}/ns/pid`)]);
    return ours === theirs;
  } catch {
    return false;
  }
}
