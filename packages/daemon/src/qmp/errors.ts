import { LodgeError, type ErrorCode } from '@lodge/api';

/** What went wrong, so callers can branch without parsing messages (quit treats 'closed' as success). */
export type QmpErrorReason = 'command' | 'timeout' | 'aborted' | 'closed' | 'protocol' | 'connect';

export interface QmpErrorInit {
  reason: QmpErrorReason;
  command?: string;
  qmpClass?: string;
  desc?: string;
  hint?: string;
  cause?: unknown;
}

/** Every failure of the QMP client: a LodgeError that also carries QEMU's error class and description. */
export class QmpError extends LodgeError {
  readonly reason: QmpErrorReason;
  readonly command: string | undefined;
  readonly qmpClass: string | undefined;
  readonly desc: string | undefined;

  constructor(code: ErrorCode, message: string, init: QmpErrorInit) {
    const { reason, command, qmpClass, desc, hint, cause } = init;
    const details = Object.fromEntries(Object.entries({ reason, command, qmpClass, desc }).filter(([, v]) => v !== undefined));
    super(code, message, { hint, cause, details });
    this.name = 'QmpError';
    this.reason = reason;
    this.command = command;
    this.qmpClass = qmpClass;
    this.desc = desc;
  }
}

// An AbortSignal.timeout() reason is a timeout, any other abort is the caller changing its mind.
const abortCode = (reason: unknown): ErrorCode =>
  reason instanceof Error && reason.name === 'TimeoutError' ? 'timeout' : 'internal';

/** One constructor per failure, so messages stay uniform: they always name the command or event and the socket. */
export const qmpErrors = {
  commandFailed: (command: string, body: { class: string; desc: string }) =>
    new QmpError('qemu_failed', `QMP command "${command}" failed: ${body.class}: ${body.desc}`, {
      reason: 'command', command, qmpClass: body.class, desc: body.desc,
    }),
  commandTimeout: (command: string, ms: number) =>
    new QmpError('timeout', `QMP command "${command}" got no reply within ${ms} ms`, { reason: 'timeout', command }),
  commandAborted: (command: string, cause: unknown) =>
    new QmpError(abortCode(cause), `QMP command "${command}" aborted`, { reason: 'aborted', command, cause }),
  commandClosed: (command: string, cause: Error | undefined) =>
    new QmpError('qemu_failed', `QMP command "${command}" failed: connection closed${cause ? ` (${cause.message})` : ''}`, {
      reason: 'closed', command, cause,
    }),
  eventTimeout: (event: string, ms: number) =>
    new QmpError('timeout', `QMP event ${event} did not arrive within ${ms} ms`, { reason: 'timeout' }),
  eventAborted: (event: string, cause: unknown) =>
    new QmpError(abortCode(cause), `waiting for QMP event ${event} aborted`, { reason: 'aborted', cause }),
  eventClosed: (event: string, cause: Error | undefined) =>
    new QmpError('qemu_failed', `QMP connection closed while waiting for event ${event}${cause ? ` (${cause.message})` : ''}`, {
      reason: 'closed', cause,
    }),
  badArguments: (command: string, cause: unknown) =>
    new QmpError('invalid_argument', `QMP command "${command}" has arguments that are not JSON: ${cause instanceof Error ? cause.message : String(cause)}`, {
      reason: 'protocol', command, cause,
    }),
  protocol: (message: string) =>
    new QmpError('qemu_failed', `QMP protocol error: ${message}`, { reason: 'protocol' }),
  peerClosed: (path: string, stage: string) =>
    new QmpError('qemu_failed', `QMP socket ${path} closed by QEMU${stage === 'ready' ? '' : ` during ${stage}`}`, { reason: 'closed' }),
  socketFailed: (path: string, cause: Error) =>
    new QmpError('qemu_failed', `QMP socket ${path} failed: ${cause.message}`, { reason: 'closed', cause }),
  connectFailed: (path: string, cause: NodeJS.ErrnoException) => {
    const why = cause.code === 'ENOENT' ? 'no such socket (ENOENT)'
      : cause.code === 'ECONNREFUSED' ? 'nothing is listening (ECONNREFUSED)' : cause.message;
    return new QmpError('qemu_failed', `cannot connect to QMP socket ${path}: ${why}`, {
      reason: 'connect', cause, hint: 'Is QEMU running with -qmp unix:<path>,server=on,wait=off?',
    });
  },
  connectTimeout: (path: string, ms: number, stage: string) =>
    new QmpError('timeout', `QMP connect to ${path} timed out after ${ms} ms during ${stage}`, {
      reason: 'timeout', hint: 'QEMU may be hung, or another client holds the monitor (QMP serves one client per socket).',
    }),
  connectAborted: (path: string, cause: unknown) =>
    new QmpError(abortCode(cause), `QMP connect to ${path} aborted`, { reason: 'aborted', cause }),
};
