import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestLodge } from './harness.js';
import { cpuRates, VmGroupFiles } from './vm-cgroup.js';

const MiB = 2 ** 20;
/** A CPU-bound loop in the guest, detached from the exec so the command returns at once. */
const SPIN = ['--', 'sh', '-c', 'nohup sh -c "while :; do :; done" </dev/null >/dev/null 2>&1 &'];

/** Within ±10% of the requested value, as the issue asks. */
const near = (measured: number, requested: number): void => {
  expect(measured).toBeGreaterThan(requested * 0.9);
  expect(measured).toBeLessThan(requested * 1.1);
};

describe('CPU weight, quota and pinning through a cgroup per VM (real VMs under TCG)', () => {
  const lodge = new TestLodge();
  const groups = new Map<string, VmGroupFiles>();

  const boot = async (name: string, limits: { cpuWeight?: number; cpuMax?: string; cpuPin?: string }): Promise<VmGroupFiles> => {
    await lodge.client.create({ name, memory: '192M', ...limits });
    const started = await lodge.cli(['start', name]);
    if (started.code !== 0) throw new Error(`lodge start ${name}: ${started.stderr}`);
    const spin = await lodge.cli(['exec', name, ...SPIN]);
    if (spin.code !== 0) throw new Error(`lodge exec ${name}: ${spin.stderr}`);
    const group = new VmGroupFiles((await lodge.client.get(name)).pid ?? 0);
    groups.set(name, group);
    return group;
  };

  beforeAll(async () => {
    await lodge.startDaemon();
    await boot('heavy', { cpuWeight: 300, cpuPin: '1' });
    await boot('light', { cpuWeight: 100, cpuPin: '1' });
  });
  afterAll(() => lodge.cleanup());

  it('QEMU and all its threads sit in the VM group, with the spec limits and the memory limit', () => {
    const heavy = groups.get('heavy') as VmGroupFiles;
    expect(heavy.dir('cpu')).toMatch(/\/lodge\/[0-9a-f]{10}\/heavy$/);
    const tasks = heavy.read('cpu', 'tasks').split('\n');
    for (const tid of readdirSync(`/proc/${heavy.pid}/task`)) expect(tasks).toContain(tid);
    if (existsSync(heavy.dir('cpu') + '/cpu.shares')) {
      expect(heavy.read('cpu', 'cpu.shares')).toBe('3072');
      expect(heavy.read('cpuset', 'cpuset.cpus')).toBe('1');
      expect(Number(heavy.read('memory', 'memory.limit_in_bytes'))).toBe(192 * MiB + 384 * MiB);
    }
  });

  it('weights 300 and 100 on one host CPU split its time 3:1 over 20 s', async () => {
    const [heavy = 0, light = 0] = await cpuRates([groups.get('heavy') as VmGroupFiles, groups.get('light') as VmGroupFiles], 20_000);
    near(heavy / (heavy + light), 0.75);
    near(light / (heavy + light), 0.25);
  });

  it('a pin naming a CPU the host lacks is refused at start, naming the host CPUs; nothing runs', async () => {
    await lodge.client.create({ name: 'badpin', memory: '192M', cpuPin: '7' });
    const r = await lodge.cli(['start', 'badpin']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/CPU 7.*does not have.*0-1/);
    expect((await lodge.client.get('badpin')).state).toBe('stopped');
    expect(existsSync(groups.get('heavy')?.dir('cpu').replace(/heavy$/, 'badpin') ?? '')).toBe(false);
  });

  it('weight 0 and quota 0% are refused with a clear error', async () => {
    await expect(lodge.client.create({ name: 'w0', cpuWeight: 0 })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(lodge.client.create({ name: 'q0', cpuMax: '0%' })).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('a stopped VM leaves no group behind', async () => {
    const dir = groups.get('light')?.dir('cpu') ?? '';
    expect(existsSync(dir)).toBe(true);
    const r = await lodge.cli(['stop', 'light']);
    expect(r.code).toBe(0);
    expect(existsSync(dir)).toBe(false);
  });

  it('--cpu-max 50% holds an unpinned CPU-bound VM to half a host CPU', async () => {
    await lodge.cli(['stop', 'heavy']);
    const capped = await boot('capped', { cpuMax: '50%' });
    if (existsSync(capped.dir('cpu') + '/cpu.cfs_quota_us')) expect(capped.read('cpu', 'cpu.cfs_quota_us')).toBe('50000');
    const [rate = 0] = await cpuRates([capped], 10_000);
    near(rate, 0.5);
    expect(readFileSync(`/proc/${capped.pid}/status`, 'utf8')).toMatch(/Threads/);
  });
});
