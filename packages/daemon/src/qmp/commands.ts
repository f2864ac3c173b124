import { QmpError } from './errors.js';
import type { QmpCallOptions, QmpMonitor } from './monitor.js';

// One typed function per QMP command we use; arguments travel as JSON, so nothing here needs escaping.

export interface QmpStatus {
  /** QEMU's RunState: prelaunch, paused, running, shutdown, internal-error, … */
  status: string;
  running: boolean;
}
export interface QmpVersionInfo {
  qemu: { major: number; minor: number; micro: number };
  package: string;
}
export interface QmpCpu {
  cpuIndex: number;
  qomPath: string;
  /** Host thread of this vCPU: what cgroup or affinity code moves. */
  threadId: number;
  target: string;
  props?: Record<string, unknown>;
}

export async function queryStatus(m: QmpMonitor, opts?: QmpCallOptions): Promise<QmpStatus> {
  const r = await m.execute<{ status: unknown; running: unknown }>('query-status', undefined, opts);
  if (typeof r?.status !== 'string' || typeof r.running !== 'boolean') {
    throw new QmpError('qemu_failed', `QMP command "query-status" returned an unexpected shape: ${JSON.stringify(r)}`, {
      reason: 'protocol', command: 'query-status',
    });
  }
  return { status: r.status, running: r.running };
}

/** Starts or resumes the vCPUs (after -S, or after stop). */
export async function cont(m: QmpMonitor, opts?: QmpCallOptions): Promise<void> {
  await m.execute('cont', undefined, opts);
}

export async function stop(m: QmpMonitor, opts?: QmpCallOptions): Promise<void> {
  await m.execute('stop', undefined, opts);
}

/** Asks the guest to power off (ACPI); resolves when QEMU forwarded the request, not when the guest is down. */
export async function systemPowerdown(m: QmpMonitor, opts?: QmpCallOptions): Promise<void> {
  await m.execute('system_powerdown', undefined, opts);
}

export async function systemReset(m: QmpMonitor, opts?: QmpCallOptions): Promise<void> {
  await m.execute('system_reset', undefined, opts);
}

/** Ends QEMU; QEMU closing the socket while quit is pending counts as success, since it may exit before replying. */
export async function quit(m: QmpMonitor, opts?: QmpCallOptions): Promise<void> {
  const wasOpen = !m.closed;
  try {
    await m.execute('quit', undefined, opts);
  } catch (err) {
    // Only a close by QEMU (EOF or reset) qualifies: not our own close(), not a protocol error, not a monitor closed before.
    const byPeer = err instanceof QmpError && err.reason === 'closed' && err.cause instanceof QmpError && err.cause.reason === 'closed';
    if (wasOpen && byPeer) return;
    throw err;
  }
}

export async function queryVersion(m: QmpMonitor, opts?: QmpCallOptions): Promise<QmpVersionInfo> {
  const r = await m.execute<QmpVersionInfo>('query-version', undefined, opts);
  return { qemu: { major: r.qemu.major, minor: r.qemu.minor, micro: r.qemu.micro }, package: r.package };
}

type RawCpu = { 'cpu-index': number; 'qom-path': string; 'thread-id': number; target: string; props?: Record<string, unknown> };

export async function queryCpusFast(m: QmpMonitor, opts?: QmpCallOptions): Promise<QmpCpu[]> {
  const r = await m.execute<RawCpu[]>('query-cpus-fast', undefined, opts);
  return r.map((c) => ({
    cpuIndex: c['cpu-index'], qomPath: c['qom-path'], threadId: c['thread-id'], target: c.target,
    ...(c.props ? { props: c.props } : {}),
  }));
}

/** Runs an HMP command line and returns its text output (for commands QMP lacks, e.g. `info mtree`). */
export async function humanMonitorCommand(m: QmpMonitor, line: string, opts?: QmpCallOptions): Promise<string> {
  return m.execute<string>('human-monitor-command', { 'command-line': line }, opts);
}
