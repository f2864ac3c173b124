import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DiskInfo, VmInfo } from '@lodge/api';
import { TestLodge } from './harness.js';

const GiB = 2 ** 30;

// The settings surface on stopped VMs: what is recorded, and bad input refused with nothing changed.
describe('lodge create and lodge set: resource settings', () => {
  const lodge = new TestLodge();
  afterAll(() => lodge.cleanup());

  it('create takes the resource flags and lodge info shows them', async () => {
    const vm = await lodge.cliJson<VmInfo>(['create', 'tuned', '--cpu-priority', 'high', '--cpu-max', '150%', '--cpu-pin', '1,0', '--max-cpus', '2', '--disk-iops', '500', '--disk-bps', '20M']);
    expect(vm.spec).toMatchObject({ cpuWeight: 400, cpuMax: 150, cpuPin: '0-1', maxCpus: 2, diskIops: 500, diskBps: 20 * 2 ** 20, disks: [] });
    const info = await lodge.cli(['info', 'tuned']);
    expect(info.stdout).toMatch(/cpu:\s+weight 400, quota 150%, pinned to 0-1/);
    expect(info.stdout).toMatch(/disk:\s+4G, 500 IOPS, 20M\/s/);
  });

  it.each([
    [['--cpu-pin', '7'], /no such CPU/],
    [['--cpu-max', '900%'], /more than the host's/],
    [['--cpu-weight', '0'], /--cpu-weight "0" is not valid/],
    [['--cpu-priority', 'urgent'], /--cpu-priority "urgent" is not valid/],
    [['--cpu-max', 'none'], /only for lodge set/],
  ])('create %j is refused and creates nothing', async (flags, message) => {
    const r = await lodge.cli(['create', 'bad', ...flags]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(existsSync(join(lodge.home, 'vms', 'bad'))).toBe(false);
    expect((await lodge.client.list()).map((v) => v.name)).not.toContain('bad');
  });

  it('set on a stopped VM records the change for its next start and grows its disk file', async () => {
    const out = await lodge.cliJson<{ vm: VmInfo; result: { live: string[]; nextStart: string[] } }>(['set', 'tuned', '--cpu-weight', '50', '--cpu-max', 'none', '--disk', '6G']);
    expect(out.result).toMatchObject({ live: [], nextStart: ['cpuWeight', 'cpuMax', 'disk'] });
    expect(out.vm.spec).toMatchObject({ cpuWeight: 50, disk: 6 * GiB });
    expect(out.vm.spec).not.toHaveProperty('cpuMax');
    const disks = await lodge.cliJson<DiskInfo[]>(['disk', 'list', 'tuned']);
    expect(disks.find((d) => d.name === 'root')?.sizeBytes).toBe(6 * GiB);
    const human = await lodge.cli(['set', 'tuned', '--cpu-priority', 'low']);
    expect(human.stdout).toMatch(/Recorded for tuned, from its next start: cpuWeight/);
  });

  it.each([
    [['--disk', '1G'], /cannot shrink: it is 6G, asked 1G/],
    [['--cpu-pin', '0-9'], /no such CPU/],
    [['--cpus', '0'], /--cpus "0" is not valid/],
    [[], /nothing to change/],
  ])('set %j is refused and changes nothing', async (flags, message) => {
    const before = (await lodge.client.get('tuned')).spec;
    const r = await lodge.cli(['set', 'tuned', ...flags]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect((await lodge.client.get('tuned')).spec).toEqual(before);
  });

  it('set and disk name a VM or disk that does not exist', async () => {
    expect((await lodge.cli(['set', 'ghost', '--cpus', '2'])).stderr).toMatch(/VM "ghost" does not exist/);
    expect((await lodge.cli(['disk', 'rm', 'tuned', 'nope'])).stderr).toMatch(/no extra disk named "nope"/);
  });
});
