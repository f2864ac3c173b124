// time.set: reports the guest clock's offset and steps the clock with `date -u -s @SECONDS` when it is off.

import type { Stream, TimeSetResult } from '@lodge/api/guest';
import { OpError } from './op-error.js';
import type { OpContext } from './op-context.js';
import { num, type Fields } from './validate.js';

/** Offsets below this are left alone: stepping costs a process start (~25 ms in a TCG guest). */
const TOLERANCE_MS = 50;

export async function runTimeSet(stream: Stream, fields: Fields, ctx: OpContext): Promise<void> {
  const epochMs = num(fields, 'epochMs');
  const received = performance.now();
  const result: TimeSetResult = { offsetMs: Date.now() - epochMs };
  if (Math.abs(result.offsetMs) > TOLERANCE_MS) {
    // `date` takes whole seconds: wait for the host's next second boundary so the step is exact up to the spawn time.
    const hostNow = epochMs + (performance.now() - received);
    const wait = 1000 - (hostNow % 1000);
    await new Promise((r) => setTimeout(r, wait));
    const seconds = Math.round((hostNow + wait) / 1000);
    const { code, stderr } = await ctx.run('date', ['-u', '-s', `@${seconds}`]);
    if (code !== 0) throw new OpError('permission_denied', `date -u -s @${seconds} failed: ${stderr.trim() || `exit ${code}`}`);
  }
  stream.finish(result);
}
