import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeAccelerator } from './accelerator-probe.js';
import { fakeQemu as fakeQemuIn } from './fake-qemu.js';

let dir: string;
let fakeKvm: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'accel-test-'));
  // A plain file opens read-write like an accessible /dev/kvm would.
  fakeKvm = join(dir, 'kvm');
  await writeFile(fakeKvm, '');
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

const fakeQemu = (name: string, body: string): Promise<string> => fakeQemuIn(dir, name, body);

describe('probeAccelerator', () => {
  it('chooses KVM only when the probe VM exits through the debug port', async () => {
    const qemu = await fakeQemu('runs', 'exit 133');
    const result = await probeAccelerator({ qemuSystem: qemu, kvmDevice: fakeKvm });
    expect(result.accelerator).toBe('kvm');
    expect(result.note).toMatch(/probe VM ran under KVM in \d+ ms/);
  });

  it('falls back to TCG without running anything when there is no KVM device', async () => {
    const qemu = await fakeQemu('must-not-run', 'exit 133');
    const result = await probeAccelerator({ qemuSystem: qemu, kvmDevice: join(dir, 'no-kvm') });
    expect(result).toEqual({ accelerator: 'tcg', note: expect.stringMatching(/^no .*no-kvm .*; using TCG$/) });
  });

  it('names the open error when the device cannot be opened read-write', async () => {
    const result = await probeAccelerator({ qemuSystem: '/bin/true', kvmDevice: dir });
    expect(result).toEqual({ accelerator: 'tcg', note: expect.stringContaining('not accessible: EISDIR') });
  });

  it('quotes QEMU when the probe VM fails', async () => {
    const qemu = await fakeQemu('fails', 'echo "qemu: failed to set MSR 0x10a" >&2; exit 1');
    const result = await probeAccelerator({ qemuSystem: qemu, kvmDevice: fakeKvm });
    expect(result.accelerator).toBe('tcg');
    expect(result.note).toContain('exited with code 1: qemu: failed to set MSR 0x10a; using TCG');
  });

  it('says the probe VM did not run within the timeout when it hangs', async () => {
    const qemu = await fakeQemu('hangs', 'exec sleep 30');
    const result = await probeAccelerator({ qemuSystem: qemu, kvmDevice: fakeKvm, timeoutMs: 300 });
    expect(result.accelerator).toBe('tcg');
    expect(result.note).toContain('is present but a probe VM did not run under KVM within 0.3 s (nested virtualisation?); using TCG');
  });

  it('reports a qemu-system that cannot be started', async () => {
    const result = await probeAccelerator({ qemuSystem: join(dir, 'absent'), kvmDevice: fakeKvm });
    expect(result.note).toMatch(/could not be started: .*ENOENT.*; using TCG$/);
  });
});
