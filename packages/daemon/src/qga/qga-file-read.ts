import { LodgeError } from '@lodge/api';
import type { FileRange, FileWindow } from '../ports/guest-channel.js';
import { fileClose, fileOpen, fileRead, fileSeek } from './qga-commands.js';
import type { QgaClient } from './qga-client.js';
import type { QgaLogger } from './qga-logger.js';
import { FILE_CHUNK } from './qga-files.js';

/** A window of a guest file with qemu-ga's own seek and read: only the asked bytes cross the link. */
export async function qgaReadFile(client: QgaClient, log: QgaLogger, path: string, range: FileRange, signal?: AbortSignal): Promise<FileWindow> {
  signal?.throwIfAborted();
  const handle = await fileOpen(client, path, 'r');
  try {
    const size = await fileSeek(client, handle, 0, 'end');
    const end = Math.min(size, range.offset + range.maxBytes);
    if (end <= range.offset) return { data: Buffer.alloc(0), size };
    await fileSeek(client, handle, range.offset, 'set');
    const parts: Buffer[] = [];
    let kept = 0;
    for (let eof = false; range.offset + kept < end && !eof;) {
      signal?.throwIfAborted();
      const chunk = await fileRead(client, handle, Math.min(FILE_CHUNK, end - range.offset - kept));
      const data = chunk.data.subarray(0, end - range.offset - kept);
      parts.push(data);
      kept += data.length;
      eof = chunk.eof;
      if (data.length === 0 && !eof) throw new LodgeError('qemu_failed', `guest agent read no bytes from "${path}" before its end`);
    }
    return { data: Buffer.concat(parts, kept), size };
  } finally {
    await fileClose(client, handle).catch((err: unknown) => log.debug({ err, path }, 'guest-file-close failed'));
  }
}
