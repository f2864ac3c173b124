import { LodgeError, type ErrorCode } from '@lodge/api';

/** Why a call failed, so the channel can tell "agent not answering" (go back to connecting) from "command said no". */
export type QgaErrorReason = 'command' | 'timeout' | 'aborted' | 'closed' | 'protocol' | 'connect' | 'unsupported';

export interface QgaErrorInit {
  reason: QgaErrorReason;
  command?: string;
  qgaClass?: string;
  desc?: string;
  hint?: string;
  cause?: unknown;
  /** guest-exec could not start the program: 127 not found, 126 not runnable (as the Lodge agent reports it). */
  shellStatus?: 126 | 127;
}

/** Every failure of the QGA link: a LodgeError that also carries qemu-ga's error class and description. */
export class QgaError extends LodgeError {
  readonly reason: QgaErrorReason;
  readonly command: string | undefined;
  readonly qgaClass: string | undefined;
  readonly desc: string | undefined;

  constructor(code: ErrorCode, message: string, init: QgaErrorInit) {
    const { reason, command, qgaClass, desc, hint, cause, shellStatus } = init;
    const details = Object.fromEntries(Object.entries({ reason, command, qgaClass, desc, shellStatus }).filter(([, v]) => v !== undefined));
    super(code, message, { hint, cause, details });
    this.name = 'QgaError';
    this.reason = reason;
    this.command = command;
    this.qgaClass = qgaClass;
    this.desc = desc;
  }
}

/** True when the agent did not answer at all (as opposed to answering with an error). */
export const isUnreachable = (err: unknown): boolean =>
  err instanceof QgaError && (err.reason === 'timeout' || err.reason === 'closed' || err.reason === 'connect' || err.reason === 'protocol');

// qemu-ga reports errno text inside GenericError descriptions; the closed list of codes has no permission code.
function codeOf(qgaClass: string, desc: string): ErrorCode {
  if (qgaClass === 'CommandNotFound' || /has been disabled|not currently supported/.test(desc)) return 'invalid_state';
  if (/No such file or directory/.test(desc)) return 'not_found';
  if (/Permission denied|Operation not permitted|Is a directory|Not a directory|Invalid parameter/.test(desc)) return 'invalid_argument';
  return 'qemu_failed';
}

// GLib's spawn error, which qemu-ga's guest-exec passes on: "Failed to execute child process “x” (No such file or directory)".
function shellStatusOf(command: string, desc: string): 126 | 127 | undefined {
  if (command !== 'guest-exec' || !desc.includes('Failed to execute child process')) return undefined;
  return /No such file or directory/.test(desc) ? 127 : 126;
}

const abortCode = (reason: unknown): ErrorCode =>
  reason instanceof Error && reason.name === 'TimeoutError' ? 'timeout' : 'internal';

/** Lodge features QGA cannot provide share one wording, so users learn what to install. */
export const needsAgent = (what: string, verb: 'needs' | 'need' = 'needs'): LodgeError =>
  new LodgeError('invalid_argument', `${what} ${verb} the Lodge agent`, {
    hint: 'this VM is reached through the QEMU guest agent, which only runs buffered commands and copies single files',
  });

export const qgaErrors = {
  commandFailed: (command: string, body: { class: string; desc: string }) =>
    new QgaError(codeOf(body.class, body.desc), `guest agent command "${command}" failed: ${body.desc}`, {
      reason: 'command', command, qgaClass: body.class, desc: body.desc, shellStatus: shellStatusOf(command, body.desc),
      ...(codeOf(body.class, body.desc) === 'invalid_state' ? { hint: 'qemu-ga blocks this command (--block-rpcs/--allow-rpcs); the Lodge agent has no such limit' } : {}),
    }),
  commandTimeout: (command: string, ms: number) =>
    new QgaError('timeout', `guest agent command "${command}" got no reply within ${ms} ms`, {
      reason: 'timeout', command, hint: 'Is qemu-ga running in the guest?',
    }),
  commandAborted: (command: string, cause: unknown) =>
    new QgaError(abortCode(cause), `guest agent command "${command}" aborted`, { reason: 'aborted', command, cause }),
  closed: (command: string, cause?: Error) =>
    new QgaError('qemu_failed', `guest agent command "${command}" failed: connection closed${cause ? ` (${cause.message})` : ''}`, {
      reason: 'closed', command, cause,
    }),
  clientClosed: (command: string) =>
    new QgaError('invalid_state', `guest agent command "${command}" refused: the guest channel is closed`, { reason: 'closed', command }),
  protocol: (message: string) =>
    new QgaError('qemu_failed', `guest agent protocol error: ${message}`, { reason: 'protocol' }),
  connectFailed: (path: string, cause: NodeJS.ErrnoException) => {
    const why = cause.code === 'ENOENT' ? 'no such socket (ENOENT)'
      : cause.code === 'ECONNREFUSED' ? 'nothing is listening (ECONNREFUSED)' : cause.message;
    return new QgaError('qemu_failed', `cannot connect to guest agent socket ${path}: ${why}`, {
      reason: 'connect', cause, hint: 'Is the VM running with a qga.sock chardev?',
    });
  },
  badReply: (command: string, what: string) =>
    new QgaError('qemu_failed', `guest agent command "${command}" returned ${what}`, { reason: 'protocol', command }),
};
