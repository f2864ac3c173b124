import { describe, expect, it } from 'vitest';
import { VmSpec, type VmInfo } from '@lodge/api';
import { renderTable } from './text-table.js';
import { REASON_WIDTH, truncate, vmTable } from './vm-table.js';

const MiB = 2 ** 20;
const vm = (name: string, patch: Partial<VmInfo> = {}): VmInfo => ({
  name,
  spec: VmSpec.parse({ name, image: 'micro', cpus: 1, memory: 512 * MiB, disk: 4096 * MiB, machine: 'q35' }),
  state: 'running',
  createdAt: '2025-11-25T21:40:00.000Z',
  updatedAt: '2025-11-25T21:40:00.000Z',
  folder: `/tmp/lh/vms/${name}`,
  ...patch,
});

describe('vmTable', () => {
  it('renders sizes the way the CLI accepts them back', () => {
    const { head, rows } = vmTable([vm('web', { spec: VmSpec.parse({ name: 'web', image: 'micro', cpus: 2, memory: 1536 * MiB, disk: 10 * 1024 * MiB, machine: 'pc' }) })]);
    expect(head).toEqual(['NAME', 'STATE', 'CPUS', 'MEMORY', 'DISK', 'IMAGE']);
    expect(rows).toEqual([['web', 'running', '2', '1.5G', '10G', 'micro']]);
  });

  it('adds a truncated REASON column only for stopped VMs that have one', () => {
    const long = 'QEMU exited with code 1: could not open disk image /somewhere/very/long/disk.qcow2';
    const { head, rows } = vmTable([vm('a', { stateReason: 'booted' }), vm('b', { state: 'stopped', stateReason: long })]);
    expect(head.at(-1)).toBe('REASON');
    expect(rows[0]?.at(-1)).toBe('');
    expect(rows[1]?.at(-1)).toHaveLength(REASON_WIDTH);
    expect(rows[1]?.at(-1)?.endsWith('…')).toBe(true);
    expect(vmTable([vm('a', { stateReason: 'booted' })]).head).not.toContain('REASON');
  });

  it('says in REASON when QEMU does not answer on QMP, and where to read more', () => {
    const { head, rows } = vmTable([vm('a', { monitor: 'connected' }), vm('b', { monitor: 'unreachable', stateReason: 'booted' })]);
    expect(head.at(-1)).toBe('REASON');
    expect(rows.map((r) => r.at(-1))).toEqual(['', 'QMP unreachable: lodge info b']);
  });

  it('truncates only what is too long', () => {
    expect(truncate('short', 10)).toBe('short');
    expect(truncate('0123456789ab', 10)).toBe('012345678…');
  });
});

describe('renderTable', () => {
  it('draws borderless, aligned columns without trailing blanks', async () => {
    const text = await renderTable(['NAME', 'STATE'], [['a', 'running'], ['longer-name', 'stopped']]);
    expect(text.split('\n')).toEqual(['NAME         STATE', 'a            running', 'longer-name  stopped']);
  });
});
