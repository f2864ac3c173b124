import { LodgeError, type ErrorCode } from '@lodge/api';
import { isGuestErrorCode, isShellStatus, type GuestErrorCode } from '@lodge/api/guest';

/** How a guest's Reset code reads to API clients; the guest's own message is kept as the message. */
const CODE_MAP: Record<GuestErrorCode, ErrorCode> = {
  not_found: 'not_found',
  // Permission problems inside the guest are the caller's to fix (user, path, mode): a bad argument, not our failure.
  permission_denied: 'invalid_argument',
  invalid_argument: 'invalid_argument',
  timeout: 'timeout',
  busy: 'conflict',
  cancelled: 'conflict',
  channel_reset: 'invalid_state',
  protocol_error: 'internal',
  protocol_mismatch: 'internal',
  flow_control: 'internal',
  internal: 'internal',
};

const HINTS: Partial<Record<GuestErrorCode, string>> = {
  channel_reset: 'the guest agent restarted or the VM stopped; try again once it is ready (lodge info NAME)',
  busy: 'too many requests to the guest at once; try again',
  protocol_mismatch: 'the guest agent speaks another protocol version; update the image',
};

/** A stream error (Reset payload, or an Error with `.code` from the session) as a LodgeError. */
export function guestFailure(err: unknown, what: string): LodgeError {
  if (err instanceof LodgeError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = (err as { message?: unknown } | null)?.message;
  const text = typeof message === 'string' && message !== '' ? message : String(err);
  if (!isGuestErrorCode(code)) return new LodgeError('internal', `${what}: ${text}`, { cause: err });
  // An exec whose program could not start: `lodge exec` exits with it, as a shell (or ssh) would.
  const status = (err as { shellStatus?: unknown }).shellStatus;
  const shellStatus = isShellStatus(status) ? { shellStatus: status } : {};
  return new LodgeError(CODE_MAP[code], text, { hint: HINTS[code], details: { guestCode: code, ...shellStatus }, cause: err instanceof Error ? err : undefined });
}
