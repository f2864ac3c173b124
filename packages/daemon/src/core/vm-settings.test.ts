import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LodgeError, VmSpec } from '@lodge/api';
import { openDatabase } from '../store/database.js';
import { EventTable } from '../store/event-table.js';
import { VmTable } from '../store/vm-table.js';
import type { HostPort, VmDriver, VmRuntime } from '../ports/vm-driver.js';
import { EventBus } from './event-bus.js';
import { KeyedLock } from './keyed-lock.js';
import { VmDisks } from './vm-disks.js';
import type { VmLifecycle } from './vm-lifecycle.js';
import { VmRecords } from './vm-records.js';
import { VmSettings, type GuestFollowUp } from './vm-settings.js';

const GiB = 2 ** 30;
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A runtime that records calls and fails the ones named in `refuse`, as QEMU would. */
function fakeRuntime(refuse: string[] = []) {
  const calls: string[] = [];
  const op = (name: string) => async (...args: unknown[]) => {
    calls.push(`${name} ${JSON.stringify(args)}`);
    if (refuse.includes(name)) throw new LodgeError('qemu_failed', `QEMU refused ${name}`);
  };
  const rt = {
    setCpuLimits: op('setCpuLimits'), setVcpus: op('setVcpus'), setMemory: op('setMemory'), attachDisk: op('attachDisk'),
    detachDisk: op('detachDisk'), resizeDisk: op('resizeDisk'), throttleDisk: op('throttleDisk'),
    bounds: async () => ({ memoryBytes: GiB, maxCpus: 2 }),
  };
  return { rt: rt as unknown as VmRuntime, calls };
}

function setup(opts: { state: 'running' | 'stopped'; runtime?: VmRuntime; admit?: () => Promise<void> }) {
  const dir = mkdtempSync(join(tmpdir(), 'lodge-set-'));
  dirs.push(dir);
  const db = openDatabase(join(dir, 'lodge.db'));
  const bus = new EventBus(new EventTable(db));
  const records = new VmRecords(new VmTable(db), bus, (n) => join(dir, n));
  const spec = VmSpec.parse({ name: 'a', image: 'micro', cpus: 1, memory: GiB, disk: 4 * GiB, machine: 'q35' });
  records.insert({ name: 'a', spec, state: opts.state, createdAt: 'x', updatedAt: 'x' });
  const driverCalls: string[] = [];
  const driver = {
    resizeDiskFile: async (...a: unknown[]) => void driverCalls.push(`resize ${JSON.stringify(a)}`),
    createExtraDisk: async (vm: string, d: { name: string }) => (driverCalls.push(`create ${d.name}`), join(dir, `${d.name}.qcow2`)),
    removeExtraDisk: async (_vm: string, d: string) => void driverCalls.push(`remove ${d}`),
    diskFile: async (_vm: string, d: string) => ({ path: join(dir, d), sizeBytes: GiB, allocatedBytes: 0 }),
  } as unknown as VmDriver;
  const lifecycle = { runtimeOf: () => opts.runtime, admitChange: opts.admit ?? (async () => undefined) } as unknown as VmLifecycle;
  const host = { resources: async () => ({ totalBytes: 8 * GiB, availableBytes: 8 * GiB, cpus: 2 }) } as HostPort;
  const guest: GuestFollowUp = { onlineCpus: async () => undefined, growFilesystem: async () => 'grown' };
  const locks = new KeyedLock();
  return {
    records, driverCalls,
    settings: new VmSettings({ records, lifecycle, driver, host, guest, locks }),
    disks: new VmDisks({ records, lifecycle, driver, guest, locks }),
  };
}

describe('VmSettings', () => {
  it('on a running VM applies CPU, vCPU, balloon and disk changes live, then records them', async () => {
    const { rt, calls } = fakeRuntime();
    const { settings, records } = setup({ state: 'running', runtime: rt });
    const { result } = await settings.update('a', { cpuWeight: 300, cpuPin: '0', cpus: 2, memory: '512M', disk: '8G' });
    expect(result.live).toEqual(['cpuWeight', 'cpuPin', 'cpus', 'memory', 'disk']);
    expect(result.notes).toEqual(['disk: grown']);
    expect(calls.map((c) => c.split(' ')[0])).toEqual(['setCpuLimits', 'setVcpus', 'setMemory', 'resizeDisk']);
    expect(records.get('a').spec).toMatchObject({ cpuWeight: 300, cpuPin: '0', cpus: 2, memory: GiB / 2, disk: 8 * GiB });
  });

  it('leaves the spec unchanged and undoes earlier live steps when QEMU refuses one', async () => {
    const { rt, calls } = fakeRuntime(['setMemory']);
    const { settings, records } = setup({ state: 'running', runtime: rt });
    await expect(settings.update('a', { cpuWeight: 300, memory: '512M' })).rejects.toThrow(/QEMU refused setMemory/);
    expect(records.get('a').spec.cpuWeight).toBe(100);
    expect(calls.at(-1)).toBe('setCpuLimits [{"weight":100}]');
  });

  it('records for the next start what cannot change live: more memory than booted, vCPUs beyond maxCpus or fewer', async () => {
    const { rt } = fakeRuntime();
    const { settings } = setup({ state: 'running', runtime: rt });
    const { result } = await settings.update('a', { memory: '2G', cpus: 3 });
    expect(result.nextStart).toEqual(['cpus', 'memory']);
    expect(result.notes.join('\n')).toMatch(/up to 2 vCPUs.*\n.*booted with 1G/);
  });

  it('refuses a live increase that admission refuses, before touching QEMU', async () => {
    const { rt, calls } = fakeRuntime();
    const refuse = async (): Promise<void> => {
      throw new LodgeError('insufficient_resources', 'not enough CPUs to start "a": it needs 2 vCPU(s), 3 of the 4 allowed are committed');
    };
    const { settings, records } = setup({ state: 'running', runtime: rt, admit: refuse });
    await expect(settings.update('a', { cpus: 2, cpuWeight: 300 })).rejects.toThrow(/3 of the 4 allowed/);
    expect(calls).toEqual([]);
    expect(records.get('a').spec).toMatchObject({ cpus: 1, cpuWeight: 100 });
  });

  it('on a stopped VM records the change and grows the disk file offline', async () => {
    const { settings, driverCalls } = setup({ state: 'stopped' });
    const { result } = await settings.update('a', { disk: '8G', cpuMax: '50%' });
    expect(result.nextStart).toEqual(['cpuMax', 'disk']);
    expect(driverCalls).toEqual([`resize ["a","root",${8 * GiB}]`]);
  });

  it('refuses a pin on a CPU the host lacks, changing nothing', async () => {
    const { settings, records } = setup({ state: 'stopped' });
    await expect(settings.update('a', { cpuPin: '5' })).rejects.toThrow(/no such CPU/);
    expect(records.get('a').spec).not.toHaveProperty('cpuPin');
  });
});

describe('VmDisks', () => {
  it('adds, lists and removes a disk, hot-plugging it on a running VM', async () => {
    const { rt, calls } = fakeRuntime();
    const { disks, records, driverCalls } = setup({ state: 'running', runtime: rt });
    const info = await disks.add('a', { name: 'data', size: '1G', iops: 200 });
    expect(info).toMatchObject({ name: 'data', attached: true, iops: 200 });
    expect((await disks.list('a')).map((d) => d.name)).toEqual(['root', 'data']);
    await expect(disks.add('a', { name: 'data', size: '1G' })).rejects.toThrow(/already has a disk named "data"/);
    await disks.remove('a', 'data');
    expect(records.get('a').spec.disks).toEqual([]);
    expect(calls.map((c) => c.split(' ')[0])).toEqual(['attachDisk', 'detachDisk']);
    expect(driverCalls).toEqual(['create data', 'remove data']);
  });

  it('removes the new file when the hot-plug fails, recording nothing', async () => {
    const { rt } = fakeRuntime(['attachDisk']);
    const { disks, records, driverCalls } = setup({ state: 'running', runtime: rt });
    await expect(disks.add('a', { name: 'data', size: '1G' })).rejects.toThrow(/refused attachDisk/);
    expect(driverCalls).toEqual(['create data', 'remove data']);
    expect(records.get('a').spec.disks).toEqual([]);
  });

  it('refuses to shrink a disk and names a missing one', async () => {
    const { disks } = setup({ state: 'stopped' });
    await disks.add('a', { name: 'data', size: '2G' });
    await expect(disks.update('a', 'data', { size: '1G' })).rejects.toThrow(/cannot shrink/);
    await expect(disks.remove('a', 'nope')).rejects.toThrow(/no extra disk named "nope"/);
  });
});
