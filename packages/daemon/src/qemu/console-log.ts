import { open } from 'node:fs/promises';
import { sleep } from '../sys/process-info.js';

const POLL_MS = 200;
const CHUNK = 64 * 1024;

/** Streams a log file from the start; with follow, keeps yielding what is appended until aborted. */
export async function* readLogFile(path: string, opts: { follow: boolean; signal: AbortSignal }): AsyncGenerator<Buffer> {
  let fh = await open(path, 'r').catch(() => undefined);
  let pos = 0;
  const buf = Buffer.alloc(CHUNK);
  try {
    while (!opts.signal.aborted) {
      fh ??= await open(path, 'r').catch(() => undefined);
      if (fh) {
        const { size } = await fh.stat();
        if (size < pos) pos = 0; // truncated: start over
        const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
        if (bytesRead > 0) {
          pos += bytesRead;
          yield Buffer.from(buf.subarray(0, bytesRead));
          continue;
        }
      }
      if (!opts.follow) return;
      await sleep(POLL_MS, opts.signal).catch(() => undefined);
    }
  } finally {
    await fh?.close();
  }
}
