import { LodgeError } from '@lodge/api';
import { BULK_EXTRA_WINDOW, Channel, FEATURE_PUT_READY, PUT_READY_BYTES, type FileEntry, type FilesResult, type Stream } from '@lodge/api/guest';
import type { FilesSink, FilesSource } from '../ports/guest-channel.js';
import type { StreamOpener } from './preferred-link.js';
import { EntryBytes } from './entry-path.js';
import { guestFailure } from './guest-failure.js';

function abortWith(stream: Stream, signal: AbortSignal | undefined): () => void {
  const cancel = (): void => void (!stream.finished && stream.reset({ code: 'cancelled', message: 'cancelled by the client' }));
  signal?.addEventListener('abort', cancel, { once: true });
  return () => signal?.removeEventListener('abort', cancel);
}

function checkTotals(result: FilesResult, seen: EntryBytes, what: string): FilesResult {
  seen.expectComplete();
  if (result.entries !== seen.entries || result.bytes !== seen.bytes) {
    throw new LodgeError('internal', `${what}: the guest reported ${result.entries} entries / ${result.bytes} bytes but ${seen.entries} / ${seen.bytes} were sent`);
  }
  return result;
}

/** Downloads from the guest; each step waits for the sink, and credit returns only after the sink took the bytes. */
export async function agentGetFiles(link: StreamOpener, path: string, sink: FilesSink, signal?: AbortSignal): Promise<FilesResult> {
  signal?.throwIfAborted();
  const stream = link.open({ op: 'files.get', path });
  // A deeper pipeline than the initial window: the guest keeps sending while we write.
  stream.grant(Channel.Output, BULK_EXTRA_WINDOW);
  const release = abortWith(stream, signal);
  const seen = new EntryBytes();
  let chain = Promise.resolve();
  const step = (work: () => Promise<void>): void => {
    chain = chain.then(work).catch((err: unknown) => {
      // The guest broke the entry rules (protocol_error), or our side failed (cancelled).
      const code = err instanceof LodgeError && err.code !== 'internal' ? 'protocol_error' : 'cancelled';
      if (!stream.finished) stream.reset({ code, message: (err as Error).message });
      throw err;
    });
    chain.catch(() => undefined);
  };
  stream.on('control', (message) => {
    const { type: _type, ...entry } = message as { type: 'entry' } & FileEntry;
    step(async () => (seen.entry(entry), sink.entry(entry)));
  });
  stream.on('data', (channel, chunk) => {
    step(async () => {
      if (channel !== Channel.Output) throw new LodgeError('invalid_argument', `files.get data on channel ${channel}`);
      seen.data(chunk.length);
      await sink.data(chunk);
      if (!stream.finished) stream.consumed(channel, chunk.length);
    });
  });
  try {
    const result = (await stream.result().catch((err: unknown) => chain.then(() => Promise.reject(err)))) as FilesResult;
    await chain;
    return checkTotals(result, seen, `copy from the guest ${path}`);
  } catch (err) {
    throw guestFailure(err, `copy from the guest ${path}`);
  } finally {
    release();
  }
}

/** Resolves on each Control `ready` of a files.put stream (FEATURE_PUT_READY), in order. */
function readySignals(stream: Stream): () => Promise<void> {
  let count = 0;
  let waiting: (() => void) | undefined;
  stream.on('control', (message) => {
    if ((message as { type?: unknown }).type !== 'ready') return;
    count++;
    waiting?.();
  });
  stream.once('done', () => waiting?.());
  return () => new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (count > 0) return void (count--, (waiting = undefined), resolve());
      if (stream.finished) return reject(new LodgeError('internal', 'the guest ended the copy before it was ready for a file'));
      waiting = check;
    };
    check();
  });
}

/**
 * Uploads to the guest: entries as Control, bytes on channel 0 within the guest's credit. With an agent that
 * announced FEATURE_PUT_READY, a file of PUT_READY_BYTES or more waits for its `ready` (the guest has it open and,
 * through lodge-port, a sink armed that takes its bytes off the wire): bytes sent sooner would miss the sink.
 */
export async function agentPutFiles(link: StreamOpener, path: string, source: FilesSource, signal?: AbortSignal): Promise<FilesResult> {
  signal?.throwIfAborted();
  const waitsForReady = link.peer?.features?.includes(FEATURE_PUT_READY) === true;
  const stream = link.open({ op: 'files.put', path });
  const nextReady = waitsForReady ? readySignals(stream) : undefined;
  const release = abortWith(stream, signal);
  const result = stream.result();
  result.catch(() => undefined);
  const seen = new EntryBytes();
  try {
    try {
      for await (const item of source) {
        if (stream.finished) break;
        if ('entry' in item) {
          seen.entry(item.entry);
          stream.control({ type: 'entry', ...item.entry });
          if (nextReady && item.entry.kind === 'file' && item.entry.size >= PUT_READY_BYTES) await nextReady();
        } else {
          seen.data(item.data.length);
          await stream.write(Channel.Input, item.data);
        }
      }
      seen.expectComplete();
    } catch (err) {
      if (stream.finished) await result; // the guest's reason beats "stream ended"
      if (!stream.finished) stream.reset({ code: 'cancelled', message: (err as Error).message });
      throw err;
    }
    signal?.throwIfAborted();
    if (!stream.finished) stream.end(Channel.Input);
    return checkTotals((await result) as FilesResult, seen, `copy to the guest ${path}`);
  } catch (err) {
    throw guestFailure(err, `copy to the guest ${path}`);
  } finally {
    release();
  }
}
