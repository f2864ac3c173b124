import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { LodgeError, type LentFile } from '@lodge/api';

/** How often a lent file's progress goes to the client. */
const PROGRESS_MS = 200;

/**
 * Opens the file a client lent (its /proc/<pid>/fd/<fd>), checked to be a regular file with the device and inode
 * the client named: a client in another pid namespace names some other process's fd, and is refused.
 * No O_NOFOLLOW: the /proc link is the way to the client's open file. Writing never truncates: the client did.
 */
export async function openLentFile(file: LentFile, how: 'read' | 'write', path: string): Promise<FileHandle> {
  const proc = `/proc/${file.pid}/fd/${file.fd}`;
  const fail = (why: string): LodgeError =>
    new LodgeError('invalid_argument', `cannot ${how} ${path} through the client's open file ${proc}: ${why}`, {
      hint: 'lent files work only for a client on lodged\'s own host and pid namespace; the lodge CLI checks that itself, so report this',
    });
  const fh = await open(proc, how === 'read' ? constants.O_RDONLY : constants.O_WRONLY).catch((err: unknown) => {
    throw fail((err as NodeJS.ErrnoException).code ?? String(err));
  });
  try {
    const st = await fh.stat({ bigint: true });
    if (!st.isFile()) throw fail('it is not a regular file');
    if (String(st.dev) !== file.dev || String(st.ino) !== file.ino) throw fail(`it is device ${st.dev} inode ${st.ino}, not ${file.dev} ${file.ino}`);
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** Tells the client how far a lent file got, at most every PROGRESS_MS and at its end. */
export class LentProgress {
  #done = 0;
  #sentAt = 0;

  constructor(private readonly send: (bytes: number) => Promise<void>) {}

  async add(bytes: number, last: boolean): Promise<void> {
    this.#done += bytes;
    const now = Date.now();
    if (!last && now - this.#sentAt < PROGRESS_MS) return;
    this.#sentAt = now;
    await this.send(this.#done);
  }
}
