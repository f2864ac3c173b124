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

/**
 * Downloads from the guest. Entries and bytes go to the sink at once, in order, without waiting for the previous
 * call (the sink keeps their order, as a WebSocket does: a wait per chunk left the pipe idle); the credit for a chunk
 * returns once the sink took it, so at most the window is in flight.
 */
export async function agentGetFiles(link: StreamOpener, path: string, sink: FilesSink, signal?: AbortSignal): Promise<FilesResult> {
  signal?.throwIfAborted();
  const stream = link.open({ op: 'files.get', path });
  // A deeper pipeline than the initial window: the guest keeps sending while we write.
  stream.grant(Channel.Output, BULK_EXTRA_WINDOW);
  const release = abortWith(stream, signal);
  const seen = new EntryBytes();
  let failure: unknown;
  let handed: Promise<unknown> = Promise.resolve();
  const fail = (err: unknown): void => {
    if (failure !== undefined) return;
    failure = err;
    // The guest broke the entry rules (protocol_error), or our side failed (cancelled).
    const code = err instanceof LodgeError && err.code !== 'internal' ? 'protocol_error' : 'cancelled';
    if (!stream.finished) stream.reset({ code, message: (err as Error).message });
  };
  const hand = (call: () => Promise<void>, taken?: () => void): void => {
    if (failure !== undefined) return;
    let pending: Promise<void>;
    try {
      pending = call();
    } catch (err) {
      return fail(err);
    }
    const settled = pending.then(taken, fail);
    handed = handed.then(() => settled);
  };
  stream.on('control', (message) => {
    const { type: _type, ...entry } = message as { type: 'entry' } & FileEntry;
    hand(() => (seen.entry(entry), sink.entry(entry)));
  });
  stream.on('data', (channel, chunk) => {
    const check = (): void => {
      if (channel !== Channel.Output) throw new LodgeError('invalid_argument', `files.get data on channel ${channel}`);
      seen.data(chunk.length);
    };
    hand(() => (check(), sink.data(chunk)), () => void (!stream.finished && stream.consumed(channel, chunk.length)));
  });
  try {
    const result = (await stream.result().catch(async (err: unknown) => {
      await handed;
      throw failure ?? err;
    })) as FilesResult;
    await handed;
    if (failure !== undefined) throw failure;
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
