import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostInfo, LodgeError } from '@lodge/api';
import { probeAccelerator } from '../../packages/daemon/src/host/accelerator-probe.js';
import { probeCgroups } from '../../packages/daemon/src/host/cgroup-probe.js';
import { probeHost } from '../../packages/daemon/src/host/host-probe.js';
import { PROBE_EXIT_CODE, bootSector, runProbeVm } from '../../packages/daemon/src/host/probe-vm.js';
import { requireQemu } from '../../packages/daemon/src/host/qemu-binaries.js';

// This host: /dev/kvm opens but runs no guests (nested), cgroup v1, root, QEMU 7.2 installed.
let dataDir: string;
let qemuSystem: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'lodge-host-probe-e2e-'));
  qemuSystem = (await requireQemu()).system;
});
afterAll(async () => { await rm(dataDir, { recursive: true, force: true }); });

/** Runs fn and prints how long it took, for the record. */
async function timed<T>(label: string, fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await fn();
  const ms = performance.now() - started;
  console.log(`${label}: ${ms.toFixed(0)} ms`);
  return { value, ms };
}

describe('host probe on this machine', () => {
  it('the probe boot sector really runs under TCG and exits through the debug port', async () => {
    const { value } = await timed('TCG validation of the boot sector', () => runProbeVm({ qemuSystem, accel: 'tcg', timeoutMs: 10_000 }));
    expect(value).toMatchObject({ exitCode: PROBE_EXIT_CODE, timedOut: false });
  });

  it('a sector without the boot signature does not exit 133 (the code comes from the guest)', async () => {
    const broken = bootSector();
    broken.writeUInt16LE(0, 510);
    const result = await runProbeVm({ qemuSystem, accel: 'tcg', timeoutMs: 1500, sector: broken });
    expect(result.exitCode).not.toBe(PROBE_EXIT_CODE);
    expect(result.timedOut).toBe(true);
  });

  it('finds that KVM does not run guests here and chooses TCG, saying why', async () => {
    const { value } = await timed('KVM probe (time-out path)', () => probeAccelerator({ qemuSystem }));
    expect(value.accelerator).toBe('tcg');
    // Machines of this kind come with a /dev/kvm that cannot run guests, or (some) with none at all.
    const why = existsSync('/dev/kvm') ? /\/dev\/kvm is present but a probe VM (did not run|under KVM)/ : /no \/dev\/kvm/;
    expect(value.note).toMatch(why);
  });

  it('sees cgroup v1 with cpu and memory, writable as root', async () => {
    const cgroup = await probeCgroups();
    expect(cgroup.version).toBe('v1');
    expect(cgroup.controllers).toEqual(expect.arrayContaining(['cpu', 'memory']));
    expect(cgroup.writable).toBe(true);
  });

  it('probes once, then answers from the cache in under 100 ms', async () => {
    const first = await timed('probeHost, first call', () => probeHost({ dataDir }));
    const info = HostInfo.parse(first.value);
    expect(info).toMatchObject({ accelerator: 'tcg', cgroup: { version: 'v1', writable: true }, qemu: { system: qemuSystem } });
    expect(info.qemu.version).toMatch(/^7\.2\.\d+$/);
    expect(info.acceleratorNote).toMatch(/KVM/);
    const second = await timed('probeHost, cached call', () => probeHost({ dataDir }));
    expect(second.ms).toBeLessThan(100);
    expect(second.value.probedAt).toBe(info.probedAt);
    expect(second.value.bootId).toBe(info.bootId);
  });

  it('gives a clear note when LODGE_QEMU_SYSTEM points nowhere', async () => {
    const env = { ...process.env, LODGE_QEMU_SYSTEM: '/nonexistent' };
    const info = await probeHost({ dataDir: join(dataDir, 'missing-qemu'), env });
    expect(info.qemu.system).toBeUndefined();
    expect(info.qemu.note).toContain('qemu-system-x86_64 not found at /nonexistent (from LODGE_QEMU_SYSTEM): install it with apt-get install qemu-system-x86');
    await expect(requireQemu({ env })).rejects.toBeInstanceOf(LodgeError);
  });
});
