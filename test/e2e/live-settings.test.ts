import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VmInfo, VmUpdateResult } from '@lodge/api';
import { sleep, TestLodge } from './harness.js';

// `lodge set` on a running VM, end to end: the balloon and vCPU hot-add as the guest sees them, and what waits for a restart.

const MiB = 2 ** 20;
type SetOut = { vm: VmInfo; result: VmUpdateResult };

describe('lodge set on a running VM', () => {
  const lodge = new TestLodge();
  const guest = async (script: string): Promise<string> => {
    const r = await lodge.cli(['exec', 'live', '--sh', script]);
    if (r.code !== 0) throw new Error(`guest "${script}" failed (${r.code}): ${r.stderr}`);
    return r.stdout.trim();
  };
  const memTotal = async (): Promise<number> => Number(/MemTotal:\s+(\d+)/.exec(await guest('cat /proc/meminfo'))?.[1]) * 1024;

  beforeAll(() => lodge.bootVm('live', ['--memory', '1G', '--max-cpus', '2']));
  afterAll(() => lodge.cleanup());

  it('shrinks and regrows guest memory through the balloon', async () => {
    expect(await memTotal()).toBeGreaterThan(900 * MiB);
    const out = await lodge.cliJson<SetOut>(['set', 'live', '--memory', '384M']);
    expect(out.result.live).toEqual(['memory']);
    expect(out.vm.spec.memory).toBe(384 * MiB);
    let total = await memTotal();
    for (let i = 0; i < 60 && total > 400 * MiB; i++) (await sleep(500), (total = await memTotal()));
    expect(total).toBeLessThan(400 * MiB);
    await lodge.cliJson<SetOut>(['set', 'live', '--memory', '1G']);
    for (let i = 0; i < 60 && total < 900 * MiB; i++) (await sleep(500), (total = await memTotal()));
    expect(total).toBeGreaterThan(900 * MiB);
  });

  it('refuses a balloon target under the floor and changes nothing; more than booted waits for the next start', async () => {
    const r = await lodge.cli(['set', 'live', '--memory', '64M']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/64M/);
    expect((await lodge.client.get('live')).spec.memory).toBe(1024 * MiB);
    const more = await lodge.cliJson<SetOut>(['set', 'live', '--memory', '2G']);
    expect(more.result).toMatchObject({ live: [], nextStart: ['memory'] });
    expect(more.result.notes.join()).toMatch(/booted with 1G/);
    await lodge.cliJson<SetOut>(['set', 'live', '--memory', '1G']);
  });

  it('hot-adds a vCPU the guest brings online, and records fewer for the next start', async () => {
    expect(await guest('nproc')).toBe('1');
    const out = await lodge.cliJson<SetOut>(['set', 'live', '--cpus', '2']);
    expect(out.result.live).toEqual(['cpus']);
    expect(out.result.notes).toEqual([]);
    expect(await guest('nproc')).toBe('2');
    const beyond = await lodge.cli(['set', 'live', '--cpus', '3']);
    expect(beyond.stdout).toMatch(/up to 2 vCPUs/);
    const fewer = await lodge.cliJson<SetOut>(['set', 'live', '--cpus', '1']);
    expect(fewer.result).toMatchObject({ live: [], nextStart: ['cpus'] });
    expect(await guest('nproc')).toBe('2');
  });

  it('applies a CPU weight live and reports it in lodge info', async () => {
    const out = await lodge.cliJson<SetOut>(['set', 'live', '--cpu-priority', 'high']);
    expect(out.result.live).toEqual(['cpuWeight']);
    expect((await lodge.cli(['info', 'live'])).stdout).toMatch(/cpu:\s+weight 400/);
  });
});
