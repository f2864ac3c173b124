import { LodgeError } from '@lodge/api';
import { Channel, type FileEntry } from '@lodge/api/guest';
import type { FileRange, FileWindow } from '../ports/guest-channel.js';
import type { StreamOpener } from './preferred-link.js';
import { guestFailure } from './guest-failure.js';

/**
 * A window of a guest file through files.get: the agent has no ranged read, so it sends the file from its start
 * and we keep only [offset, offset + maxBytes), then cancel. Memory stays bounded by maxBytes whatever the file's size.
 */
export function agentReadFile(link: StreamOpener, path: string, range: FileRange, signal?: AbortSignal): Promise<FileWindow> {
  signal?.throwIfAborted();
  const stream = link.open({ op: 'files.get', path });
  const parts: Buffer[] = [];
  let kept = 0;
  let position = 0;
  let end = -1;
  let size = -1;
  return new Promise<FileWindow>((resolve, reject) => {
    let settled = false;
    const settle = (outcome: { window: FileWindow } | { error: unknown }): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      // Once we have our bytes, the rest of the file is not wanted.
      if (!stream.finished) stream.reset({ code: 'cancelled', message: 'read window complete' });
      if ('window' in outcome) resolve(outcome.window);
      else reject(guestFailure(outcome.error, `read the guest file ${path}`));
    };
    const done = (): void => settle({ window: { data: Buffer.concat(parts, kept), size } });
    const onAbort = (): void => settle({ error: signal?.reason ?? new LodgeError('conflict', 'cancelled') });
    signal?.addEventListener('abort', onAbort, { once: true });
    stream.on('control', (message) => {
      const entry = message as FileEntry;
      if (size >= 0 || entry.kind !== 'file' || !Number.isSafeInteger(entry.size) || entry.size < 0) {
        return settle({ error: new LodgeError('invalid_argument', `${path} is not a regular file in the guest (${entry.kind})`) });
      }
      size = entry.size;
      end = Math.min(size, range.offset + range.maxBytes);
      if (end <= range.offset) done();
    });
    stream.on('data', (channel, chunk) => {
      if (settled) return;
      if (channel !== Channel.Output || size < 0 || position + chunk.length > size) {
        return settle({ error: new LodgeError('internal', `read the guest file ${path}: bytes outside its entry`) });
      }
      const from = Math.max(range.offset, position);
      const to = Math.min(end, position + chunk.length);
      if (to > from) {
        parts.push(Buffer.from(chunk.subarray(from - position, to - position)));
        kept += to - from;
      }
      position += chunk.length;
      stream.consumed(channel, chunk.length);
      if (position >= end) done();
    });
    stream.result().then(
      () => (size < 0 ? settle({ error: new LodgeError('not_found', `${path}: no such file in the guest`) }) : done()),
      (err: unknown) => settle({ error: err }),
    );
  });
}
