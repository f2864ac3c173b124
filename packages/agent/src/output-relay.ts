// A lodge-spawn child's output → the exec stream's channels within credit, with no stream per output in between:
// lodge-spawn holds an output back while too much of it waits for credit, so a slow host slows the program.

import { Channel, type Stream } from '@lodge/api/guest';
import type { ExecTrace } from './exec-trace.js';
import type { SpawnedChild } from './spawned-child.js';

/** Bytes of one output handed to the stream but not yet sent within credit; above it lodge-spawn stops reading it. */
const HIGH_WATER = 256 * 1024;

/** Resolves once both outputs ended and everything in them went to the stream (or a write failed: then `kill`). */
export function relayOutputs(stream: Stream, child: SpawnedChild, kill: () => void, tr?: ExecTrace): Promise<void> {
  return new Promise((resolve) => {
    let open = 2;
    let failed = false;
    /** Per output (stdout, stderr): bytes and writes not yet sent within credit, and whether it ended. */
    const outs = [1, 2].map(() => ({ inFlight: 0, writes: 0, ended: false }));
    const channel = (ch: 1 | 2): Channel => (ch === 1 ? Channel.Output : Channel.Error);
    const endChannel = (ch: 1 | 2): void => {
      if (failed) return;
      if (!stream.finished) stream.end(channel(ch));
      tr?.mark(ch === 1 ? 'stdout ended' : 'stderr ended');
      if (--open === 0) resolve();
    };
    child.setSink({
      data: (ch, bytes) => {
        if (failed) return false; // the program is being killed: its output stays where it is
        const o = outs[ch - 1] as (typeof outs)[number];
        o.inFlight += bytes.length;
        o.writes++;
        stream.write(channel(ch), bytes).then(
          () => {
            o.inFlight -= bytes.length;
            o.writes--;
            if (o.inFlight < HIGH_WATER / 2) child.resumeOutput(ch);
            if (o.writes === 0 && o.ended) endChannel(ch);
          },
          () => {
            if (failed) return;
            failed = true;
            kill();
            resolve();
          },
        );
        return o.inFlight < HIGH_WATER;
      },
      end: (ch) => {
        const o = outs[ch - 1] as (typeof outs)[number];
        o.ended = true;
        if (o.writes === 0) endChannel(ch);
      },
    });
  });
}
