/** The closed list of error codes; one function (httpStatusOf) maps them to HTTP. */
export const ERROR_CODES = [
  'invalid_argument',
  'not_found',
  'already_exists',
  'invalid_state',
  'conflict',
  'insufficient_resources',
  'image_unavailable',
  'qemu_failed',
  'host_unsupported',
  'daemon_unreachable',
  'timeout',
  /** First-boot provisioning failed in the guest (a script, a package); the VM keeps running for a look. */
  'provision_failed',
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ApiError {
  code: ErrorCode;
  message: string;
  /** What the user can do about it. */
  hint?: string;
  details?: Record<string, unknown>;
  cause?: string;
}

/** Checks an error body from the wire by hand, so clients need not load a schema library. */
export function asApiError(value: unknown): ApiError | undefined {
  const e = (value as { error?: Record<string, unknown> } | null)?.error;
  if (typeof e !== 'object' || e === null) return undefined;
  const ok =
    (ERROR_CODES as readonly unknown[]).includes(e.code) &&
    typeof e.message === 'string' &&
    ['string', 'undefined'].includes(typeof e.hint) &&
    ['string', 'undefined'].includes(typeof e.cause) &&
    (e.details === undefined || (typeof e.details === 'object' && e.details !== null));
  return ok ? (e as unknown as ApiError) : undefined;
}

export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case 'invalid_argument':
      return 400;
    case 'not_found':
      return 404;
    case 'already_exists':
    case 'invalid_state':
    case 'conflict':
      return 409;
    case 'insufficient_resources':
    case 'image_unavailable':
    case 'host_unsupported':
      return 422;
    case 'timeout':
      return 504;
    case 'daemon_unreachable':
      return 503;
    case 'qemu_failed':
    case 'provision_failed':
    case 'internal':
      return 500;
  }
}
