import { open } from 'node:fs/promises';
import { PROBE_EXIT_CODE, runProbeVm, type ProbeVmResult } from './probe-vm.js';

export interface AcceleratorProbeOptions {
  qemuSystem: string;
  /** How long the KVM probe VM may take to prove it ran; a nested host that hangs costs this much once per boot. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** The KVM device; tests point it elsewhere. */
  kvmDevice?: string;
}

export interface AcceleratorProbe {
  accelerator: 'kvm' | 'tcg';
  note: string;
}

export const DEFAULT_KVM_PROBE_TIMEOUT_MS = 4000;

/** KVM counts only when a probe VM really runs under it; /dev/kvm existing proves nothing (nested hosts). */
export async function probeAccelerator(opts: AcceleratorProbeOptions): Promise<AcceleratorProbe> {
  const device = opts.kvmDevice ?? '/dev/kvm';
  const timeoutMs = opts.timeoutMs ?? DEFAULT_KVM_PROBE_TIMEOUT_MS;
  const access = await openReadWrite(device);
  if (access !== 'ok') return tcg(access);
  let result: ProbeVmResult;
  try {
    result = await runProbeVm({ qemuSystem: opts.qemuSystem, accel: 'kvm', timeoutMs, signal: opts.signal });
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    return tcg(`${device} is present but ${opts.qemuSystem} could not be started: ${errorText(err)}`);
  }
  if (result.exitCode === PROBE_EXIT_CODE) {
    return { accelerator: 'kvm', note: `a probe VM ran under KVM in ${Math.round(result.elapsedMs)} ms` };
  }
  return tcg(`${device} is present but ${describeFailure(result, timeoutMs)}`);
}

/** 'ok', or the reason we cannot use the device, in words a user can act on. */
async function openReadWrite(device: string): Promise<string> {
  try {
    await (await open(device, 'r+')).close();
    return 'ok';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `no ${device} (KVM module not loaded or no hardware virtualisation)`;
    if (code === 'EACCES' || code === 'EPERM') return `${device} not accessible: ${code} (add the user to the kvm group)`;
    return `${device} not accessible: ${code ?? errorText(err)}`;
  }
}

function describeFailure(result: ProbeVmResult, timeoutMs: number): string {
  if (result.timedOut) {
    return `a probe VM did not run under KVM within ${timeoutMs / 1000} s (nested virtualisation?)`;
  }
  const how = result.exitSignal ? `was killed by ${result.exitSignal}` : `exited with code ${result.exitCode}`;
  const why = result.stderr.split('\n').filter((l) => l.trim() !== '').at(-1);
  return `a probe VM under KVM ${how}${why ? `: ${why}` : ''}`;
}

function tcg(reason: string): AcceleratorProbe {
  return { accelerator: 'tcg', note: `${reason}; using TCG` };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
