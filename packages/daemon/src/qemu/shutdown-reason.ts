/** Words for QMP SHUTDOWN's `reason` field (QAPI ShutdownCause). */
const REASONS: Record<string, string> = {
  'guest-shutdown': 'guest powered off',
  'guest-reset': 'guest rebooted',
  'guest-panic': 'guest kernel panicked',
  'host-qmp-quit': 'QEMU was told to quit',
  'host-qmp-system-reset': 'reset by QMP',
  'host-signal': 'QEMU was stopped by a signal',
  'host-ui': 'closed from the QEMU UI',
  'host-error': 'QEMU hit a host error',
  'subsystem-reset': 'reset by a device',
  'snapshot-load': 'snapshot loaded',
};

export function shutdownReason(data: Record<string, unknown> | undefined): string {
  const cause = typeof data?.reason === 'string' ? data.reason : undefined;
  return cause ? (REASONS[cause] ?? `QEMU shut down (${cause})`) : 'QEMU shut down';
}
