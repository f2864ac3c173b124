import { describe, expect, it } from 'vitest';
import { VmSpec } from '@lodge/api';
import type { GuestStatus } from '@lodge/api/lite';
import { formatUptime, guestDetails, guestSection, type VmWithGuest } from './guest-details.js';
import { keyValueLines } from './key-value-lines.js';
import { vmDetails } from './vm-details.js';
import { vmTable } from './vm-table.js';

const GiB = 2 ** 30;
const vm = (name: string, patch: Partial<VmWithGuest> = {}): VmWithGuest => ({
  name,
  spec: VmSpec.parse({ name, image: 'micro', cpus: 1, memory: GiB / 2, disk: 4 * GiB, machine: 'q35' }),
  state: 'running',
  createdAt: '2025-11-25T21:40:00.000Z',
  updatedAt: '2025-11-25T21:40:00.000Z',
  folder: `/tmp/lh/vms/${name}`,
  ...patch,
});

const status: GuestStatus = {
  state: 'ready',
  via: 'lodge-agent',
  version: '0.1.0',
  readyAt: '2025-11-25T21:40:05.000Z',
  info: {
    os: { id: 'debian', name: 'Debian GNU/Linux', version: '13', prettyName: 'Debian GNU/Linux 13 (trixie)' },
    kernel: { release: '6.12.57+deb13-cloud-amd64', version: '#1 SMP', machine: 'x86_64' },
    hostname: 'web',
    uptimeS: 93784,
    load: [0.5, 0.25, 0],
    memory: { totalBytes: 2 * GiB, availableBytes: 1.5 * GiB },
    disks: [{ mount: '/', fs: 'ext4', totalBytes: 4 * GiB, usedBytes: GiB }],
    addresses: [{ iface: 'lo', family: 'ipv4', address: '127.0.0.1' }, { iface: 'eth0', family: 'ipv4', address: '10.0.2.15' }],
    agent: { version: '0.1.0', pid: 90, node: 'v20.19.0' },
    timeMs: 0,
  },
};

describe('the Guest section of lodge info', () => {
  it('shows the agent, OS, kernel, uptime, load, memory, disks and addresses', () => {
    const text = guestSection(status);
    expect(text.split('\n')[0]).toBe('Guest:');
    expect(text).toContain('  agent:      ready via lodge-agent 0.1.0 since 2025-11-25T21:40:05.000Z');
    expect(text).toContain('  os:         Debian GNU/Linux 13 (trixie)');
    expect(text).toContain('  kernel:     6.12.57+deb13-cloud-amd64 x86_64');
    expect(text).toContain('  uptime:     1d 2h 3m');
    expect(text).toContain('  load:       0.50 0.25 0.00');
    expect(text).toContain('  memory:     512M used of 2G');
    expect(text).toContain('  disk /:     1G used of 4G (ext4)');
    expect(text).toContain('  addresses:  10.0.2.15 (eth0)');
  });

  it('shows the note when the guest cannot answer', () => {
    expect(keyValueLines(guestDetails({ state: 'ready', via: 'qemu-guest-agent', note: 'streaming needs the Lodge agent' }))).toBe(
      'agent:  ready via qemu-guest-agent\nnote:   streaming needs the Lodge agent',
    );
    expect(keyValueLines(guestDetails({ state: 'connecting' }))).toBe('agent:  connecting');
  });

  it('writes uptimes compactly', () => {
    expect([formatUptime(59), formatUptime(3599), formatUptime(3600 * 5 + 60), formatUptime(86400)]).toEqual(['0m 59s', '59m 59s', '5h 1m', '1d 0h 0m']);
  });
});

describe('guest readiness in info and list', () => {
  it('adds a guest line to the details only when the VM has one', () => {
    expect(vmDetails(vm('a')).some(([k, v]) => k === 'guest' && v !== undefined)).toBe(false);
    expect(keyValueLines(vmDetails(vm('a', { guest: { state: 'ready', via: 'lodge-agent', version: '0.1.0' } })))).toContain('guest:    ready via lodge-agent 0.1.0');
  });

  it('adds a GUEST column after STATE only when some VM reports a guest', () => {
    expect(vmTable([vm('a')]).head).not.toContain('GUEST');
    const { head, rows } = vmTable([
      vm('a', { guest: { state: 'ready', via: 'lodge-agent' } }),
      vm('b', { state: 'stopped' }),
      vm('c', { guest: { state: 'ready', via: 'qemu-guest-agent' } }),
    ]);
    expect(head).toEqual(['NAME', 'STATE', 'GUEST', 'CPUS', 'MEMORY', 'DISK', 'IMAGE']);
    expect(rows.map((r) => r[2])).toEqual(['ready', '-', 'ready (qga)']);
  });
});
