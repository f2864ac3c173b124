// Routes each stream the host opens to its operation; whatever an operation throws becomes a Reset, never a crash.
// Operations are called synchronously and must add their stream listeners before their first await.

import type { Stream } from '@lodge/api/guest';
import { runHostPublish } from './bus-bridge.js';
import { runTimeSet } from './clock-op.js';
import { runExec } from './exec-op.js';
import { runFilesGet } from './files-get.js';
import { runFilesPut } from './files-put.js';
import { runInfo } from './info-op.js';
import { logError } from './log.js';
import { OpError, toGuestError } from './op-error.js';
import { NO_LINE, type LineContext, type OpContext } from './op-context.js';
import { runShutdown } from './shutdown-op.js';
import { asObject, type Fields } from './validate.js';

type Operation = (stream: Stream, fields: Fields, ctx: OpContext, line: LineContext) => void | Promise<void>;

const OPERATIONS: Record<string, Operation> = {
  exec: runExec,
  info: (stream) => runInfo(stream),
  'time.set': runTimeSet,
  shutdown: runShutdown,
  'files.get': (stream, fields, _ctx, line) => runFilesGet(stream, fields, line),
  'files.put': (stream, fields, _ctx, line) => runFilesPut(stream, fields, line),
  'bus.publish': (stream, fields, ctx) => runHostPublish(stream, fields, ctx.bus),
};

/** The session's onOpen handler. */
export function createDispatcher(ctx: OpContext): (stream: Stream, request: unknown, line?: LineContext) => void {
  return (stream, request, line = NO_LINE) => {
    const fail = (error: unknown): void => {
      const guestError = toGuestError(error);
      if (guestError.code === 'internal') logError(`stream ${stream.id}: ${guestError.message}`);
      if (!stream.finished) stream.reset(guestError);
    };
    try {
      const fields = asObject(request, 'request');
      const op = typeof fields.op === 'string' ? OPERATIONS[fields.op] : undefined;
      if (!op || !Object.prototype.hasOwnProperty.call(OPERATIONS, fields.op as string)) {
        throw new OpError('invalid_argument', `unknown op ${JSON.stringify(fields.op)}; this agent knows ${Object.keys(OPERATIONS).join(', ')}`);
      }
      Promise.resolve(op(stream, fields, ctx, line)).catch(fail);
    } catch (error) {
      fail(error);
    }
  };
}
