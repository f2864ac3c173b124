import { describe, expect, it } from 'vitest';
import { VmSpec, type HostReport, type ImageEntry, type VmInfo } from '@lodge/api';
import { hostDetails } from './host-details.js';
import { imageTable } from './image-table.js';
import { imageDetails } from './image-details.js';
import { keyValueLines } from './key-value-lines.js';
import { vmDetails } from './vm-details.js';

const GiB = 2 ** 30;

describe('keyValueLines', () => {
  it('aligns values and leaves out missing ones', () => {
    expect(keyValueLines([['name', 't1'], ['reason', undefined], ['machine', 'q35']])).toBe('name:     t1\nmachine:  q35');
  });
});

describe('vmDetails', () => {
  it('lists the VM fields in order, sizes formatted', () => {
    const vm: VmInfo = {
      name: 't1',
      spec: VmSpec.parse({ name: 't1', image: 'micro', cpus: 2, memory: GiB / 2, disk: 4 * GiB, machine: 'q35', cpuWeight: 300, cpuMax: 50, cpuPin: '0', diskIops: 100, disks: [{ name: 'data', size: GiB }] }),
      state: 'stopped',
      stateReason: 'guest powered off',
      createdAt: '2025-11-25T21:40:00.000Z',
      updatedAt: '2025-11-25T21:41:00.000Z',
      folder: '/tmp/lh/vms/t1',
    };
    const text = keyValueLines(vmDetails(vm));
    expect(text.split('\n').map((l) => l.split(':')[0])).toEqual(['name', 'state', 'reason', 'image', 'cpus', 'cpu', 'memory', 'disk', 'disks', 'machine', 'folder', 'created']);
    expect(text).toContain('cpu:      weight 300, quota 50%, pinned to 0');
    expect(text).toContain('disk:     4G, 100 IOPS');
    expect(text).toContain('disks:    data 1G');
    expect(text).toContain('memory:   512M');
    expect(text).toContain('reason:   guest powered off');
  });

  it('shows the pid and the vsock CID of a running VM that has one', () => {
    const spec = VmSpec.parse({ name: 't2', image: 'micro', cpus: 1, memory: GiB, disk: GiB, machine: 'q35', cpuWeight: 100, disks: [] });
    const guest = { state: 'ready' as const, via: 'lodge-agent' as const, version: '0.1.0', transport: 'vsock' as const };
    const text = keyValueLines(vmDetails({ name: 't2', spec, state: 'running', pid: 77, vsockCid: 123456, guest, createdAt: '', updatedAt: '', folder: '/f' }));
    expect(text).toContain('guest:    ready via lodge-agent 0.1.0 (vsock)\npid:      77\nvsock:    cid 123456');
  });

  it('shows the first-boot settings: hostname, default user and key count, users, packages, files, scripts', () => {
    const spec = {
      name: 'web', image: 'debian-12', cpus: 1, memory: GiB, disk: 4 * GiB, machine: 'q35' as const, cpuWeight: 100, disks: [],
      hostname: 'box', user: { name: 'alice', sshKeys: ['k1', 'k2'] },
      users: [{ name: 'ops', sudo: true, sshKeys: ['k'], shell: '/bin/sh', groups: [] }, { name: 'app', sudo: false, sshKeys: [], shell: '/bin/bash', groups: [] }],
      packages: ['curl', 'jq'],
      files: [{ path: '/etc/motd', content: 'hi', encoding: 'text' as const, mode: '0644', owner: 'root:root' }],
      provision: [{ name: 'setup', mode: 'system' as const, run: 'once' as const, script: 'true', timeout: 600 }, { name: 'tick', mode: 'user' as const, run: 'boot' as const, script: 'true', timeout: 5 }],
    };
    const text = keyValueLines(vmDetails({ name: 'web', spec, state: 'stopped', createdAt: '', updatedAt: '', folder: '/f' }));
    expect(text).toContain('hostname:  box');
    expect(text).toContain('user:      alice (sudo, 2 SSH keys)');
    expect(text).toContain('users:     ops (sudo, 1 SSH key), app (0 SSH keys)');
    expect(text).toContain('packages:  curl, jq');
    expect(text).toContain('files:     1: /etc/motd');
    expect(text).toContain('scripts:   setup (system, once, timeout 600 s), tick (user, boot, timeout 5 s)');
    expect(keyValueLines(vmDetails({ name: 'web', spec: { ...spec, user: false }, state: 'stopped', createdAt: '', updatedAt: '', folder: '/f' }))).toContain('user:      none');
  });
});

describe('hostDetails', () => {
  it('shows the accelerator with its note and the capacity', () => {
    const host: HostReport = {
      cpus: { count: 4, model: 'Test CPU' },
      memory: { totalBytes: 8 * GiB, availableBytes: 6 * GiB },
      disk: { path: '/tmp/lh', freeBytes: 20 * GiB, totalBytes: 50 * GiB },
      qemu: { system: '/usr/bin/qemu-system-x86_64', img: '/usr/bin/qemu-img', version: '8.2.2' },
      cgroup: { version: 'v2', controllers: ['cpu', 'memory'], writable: false, note: 'not delegated' },
      accelerator: 'tcg',
      acceleratorNote: '/dev/kvm is missing',
      vsock: { available: false, note: 'no /dev/vhost-vsock' },
      probedAt: '2025-11-25T21:40:00.000Z',
      bootId: 'b',
      capacity: {
        memory: { totalBytes: 8 * GiB, committedBytes: GiB / 2, limitBytes: 12 * GiB, overcommit: 1.5 },
        cpus: { total: 4, committed: 1, limit: 16, overcommit: 4 },
        vms: { total: 2, active: 1 },
      },
    };
    const text = keyValueLines(hostDetails(host));
    expect(text).toContain('accelerator:       tcg (/dev/kvm is missing)');
    expect(text).toContain('qemu:              /usr/bin/qemu-system-x86_64 8.2.2');
    expect(text).toContain('vsock:             no (no /dev/vhost-vsock)');
    expect(text).toContain('cgroup:            v2, controllers: cpu memory, not writable (not delegated)');
    expect(text).toContain('limits:            nice on QEMU for CPU weight only');
    expect(text).toContain('memory committed:  512M of 12G (overcommit 1.5x)');
    expect(text).toContain('VMs:               1 active, 2 total');
  });
});

describe('hostDetails limits', () => {
  it('says limits go through a cgroup per VM where cgroups are writable', () => {
    const host = { cpus: { count: 2, model: 'x' }, memory: { totalBytes: GiB, availableBytes: GiB }, disk: { path: '/', freeBytes: 0, totalBytes: 0 }, qemu: {},
      cgroup: { version: 'v1', controllers: ['cpu'], writable: true, mode: 'cgroup' }, accelerator: 'tcg', acceleratorNote: '', probedAt: '', bootId: '',
      capacity: { memory: { totalBytes: 0, committedBytes: 0, limitBytes: 0, overcommit: 1 }, cpus: { total: 2, committed: 0, limit: 2, overcommit: 1 }, vms: { total: 0, active: 0 } } } as HostReport;
    expect(keyValueLines(hostDetails(host))).toContain('limits:            a cgroup v1 group per VM: CPU weight, quota and pinning');
  });
});

describe('imageTable', () => {
  it('shows name, size, kernel, build time to the minute and the recipe', () => {
    const image = { name: 'micro', sizeBytes: 75 * 2 ** 20, kernel: 'vmlinux', kernelVersion: '6.12.57+deb13-cloud-amd64', builtAt: '2025-11-25T21:40:12.345Z', recipeHash: 'abcdef0123456789' } as ImageEntry;
    expect(imageTable([image]).rows).toEqual([['micro', '75M', '6.12.57+deb13-cloud-amd64', '2025-11-25 21:40 UTC', 'recipe micro (abcdef012345)']]);
  });
  it('says an imported image boots from its disk and names the file it came from', () => {
    const image = { name: 'mine', sizeBytes: 2 ** 20, builtAt: '2025-11-25T21:40:12.345Z', importedFrom: '/home/u/disk.raw' } as ImageEntry;
    expect(imageTable([image]).rows).toEqual([['mine', '1M', '(boots from disk)', '2025-11-25 21:40 UTC', 'imported from /home/u/disk.raw']]);
  });
});

describe('imageDetails', () => {
  it('shows the source, how it boots, qemu-img facts of the disk and the VMs using it', () => {
    const image = { name: 'mine', folder: '/i/mine', disk: 'disk.qcow2', kernelCmdline: '', sizeBytes: 2 ** 20, builtAt: '2025-11-25T21:40:12.345Z', importedFrom: '/u/d.raw' } as ImageEntry;
    const text = keyValueLines(imageDetails({ image, disk: { format: 'qcow2', virtualSizeBytes: 2 ** 30, actualSizeBytes: 2 ** 20 }, usedBy: ['web', 'db'] }));
    expect(text).toContain('source:   imported from /u/d.raw');
    expect(text).toContain('boot:     from its disk (firmware, then its bootloader)');
    expect(text).toContain('disk:     disk.qcow2: qcow2, virtual size 1G, 1M on disk');
    expect(text).toContain('used by:  web, db');
    expect(text).not.toContain('kernel:');
  });
  it("shows a YAML recipe's base, description and the packages it adds", () => {
    const recipe = { name: 'debian-12-dev', description: 'build tools', base: 'debian-12', packages: ['gdb', 'git'] };
    const image = { name: 'debian-12-dev', folder: '/i/d', disk: 'disk.qcow2', kernelCmdline: '', sizeBytes: 2 ** 20, builtAt: '2025-11-25T21:40:12.345Z', recipeHash: 'abcdef0123456789', recipe } as ImageEntry;
    expect(imageTable([image]).rows[0]?.[4]).toBe('recipe debian-12-dev on debian-12 (abcdef012345)');
    const text = keyValueLines(imageDetails({ image, disk: { format: 'qcow2', virtualSizeBytes: 2 ** 30, actualSizeBytes: 2 ** 20 }, usedBy: [] }));
    expect(text).toContain('description:  build tools');
    expect(text).toContain("packages:     gdb git (on top of debian-12's)");
  });
});
