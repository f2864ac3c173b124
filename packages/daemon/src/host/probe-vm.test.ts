import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBE_EXIT_CODE, bootSector, runProbeVm } from './probe-vm.js';
import { fakeQemu as fakeQemuIn } from './fake-qemu.js';

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'probe-vm-test-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

const fakeQemu = (name: string, body: string): Promise<string> => fakeQemuIn(dir, name, body);


describe('bootSector', () => {
  it('is one 512-byte sector: the debug-exit write of 0x42, then the 0x55AA signature', () => {
    const sector = bootSector();
    expect(sector.length).toBe(512);
    expect([...sector.subarray(0, 4)]).toEqual([0xb0, 0x42, 0xe6, 0xf4]);
    expect([sector[510], sector[511]]).toEqual([0x55, 0xaa]);
    expect(PROBE_EXIT_CODE).toBe((0x42 << 1) | 1);
  });
});

describe('runProbeVm', () => {
  it('reports the exit code and the last stderr of a process that exits', async () => {
    const qemu = await fakeQemu('exits', 'echo "boom" >&2; exit 3');
    const result = await runProbeVm({ qemuSystem: qemu, accel: 'kvm', timeoutMs: 5000 });
    expect(result).toMatchObject({ exitCode: 3, timedOut: false, stderr: 'boom' });
  });

  it('kills a process that outlives the timeout and removes its temp folder', async () => {
    // The fake notes its boot disk, in the probe's temp folder (other test files probe at the same time).
    const args = join(dir, 'hangs.args');
    const qemu = await fakeQemu('hangs', `echo "$@" > ${args}; exec sleep 30`);
    const started = Date.now();
    const result = await runProbeVm({ qemuSystem: qemu, accel: 'kvm', timeoutMs: 200 });
    expect(result).toMatchObject({ timedOut: true, exitSignal: 'SIGKILL' });
    expect(Date.now() - started).toBeLessThan(2000);
    const boot = /file=(\S+\/lodge-accel-[^/\s]+)\/boot\.img/.exec(await readFile(args, 'utf8'))?.[1];
    expect(boot).toBeDefined();
    expect(existsSync(boot ?? '')).toBe(false);
  });

  it('kills the process and rejects when the signal aborts', async () => {
    const qemu = await fakeQemu('hangs-too', 'exec sleep 30');
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop')), 100);
    await expect(runProbeVm({ qemuSystem: qemu, accel: 'kvm', timeoutMs: 10_000, signal: controller.signal })).rejects.toThrow('stop');
  });

  it('rejects when the binary cannot be started', async () => {
    await expect(runProbeVm({ qemuSystem: join(dir, 'absent'), accel: 'tcg', timeoutMs: 1000 })).rejects.toThrow(/ENOENT/);
  });
});
