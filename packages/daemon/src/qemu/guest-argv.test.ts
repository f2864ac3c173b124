import { describe, expect, it } from 'vitest';
import { VmSpec } from '@lodge/api';
import { balloonArgv, defaultMaxCpus, smpOption, tcgThread } from './guest-argv.js';
import { buildArgv } from './qemu-argv.js';

describe('balloon and vCPU slots on the command line', () => {
  it('adds a balloon with free page reporting and without deflate-on-oom, on the machine\'s bus', () => {
    expect(balloonArgv('q35')).toEqual(['-device', 'virtio-balloon-pci,id=balloon0,free-page-reporting=on']);
    expect(balloonArgv('pc')).toEqual(['-device', 'virtio-balloon-pci,id=balloon0,free-page-reporting=on']);
    expect(balloonArgv('microvm')).toEqual(['-device', 'virtio-balloon-device,id=balloon0,free-page-reporting=on']);
  });

  it('gives q35 and pc free vCPU slots: the spec\'s maxCpus, else the host\'s CPUs, never fewer than booted', () => {
    expect(smpOption({ machine: 'q35', cpus: 1, maxCpus: 4 }, 'tcg', 2)).toBe('cpus=1,maxcpus=4');
    expect(smpOption({ machine: 'pc', cpus: 1 }, 'tcg', 8)).toBe('cpus=1,maxcpus=8');
    expect(smpOption({ machine: 'q35', cpus: 3 }, 'kvm', 8)).toBe('cpus=3,maxcpus=8');
    expect(smpOption({ machine: 'q35', cpus: 3 }, 'kvm', 2)).toBe('cpus=3,maxcpus=3');
    expect(defaultMaxCpus(1, 'kvm', 256)).toBe(64); // the spec's own upper bound
  });

  it('under TCG keeps multi-threaded vCPUs for multi-vCPU guests and uses one thread where slots are free', () => {
    expect(smpOption({ machine: 'q35', cpus: 2 }, 'tcg', 8)).toBe('cpus=2,maxcpus=2');
    expect(tcgThread({ machine: 'q35', cpus: 2 }, 8)).toBe('multi');
    expect(tcgThread({ machine: 'q35', cpus: 1 }, 8)).toBe('single');
    expect(tcgThread({ machine: 'q35', cpus: 2, maxCpus: 4 }, 8)).toBe('single');
    expect(tcgThread({ machine: 'q35', cpus: 1 }, 1)).toBe('multi');
    expect(tcgThread({ machine: 'microvm', cpus: 1 }, 8)).toBe('multi');
  });

  it('gives microvm no slots (it has no CPU hotplug)', () => {
    expect(smpOption({ machine: 'microvm', cpus: 2, maxCpus: 4 }, 'kvm', 8)).toBe('2');
  });

  it('is part of every supervised VM\'s argv', () => {
    const argv = buildArgv({
      spec: VmSpec.parse({ name: 'a', image: 'micro', cpus: 1, maxCpus: 2, memory: 2 ** 30, disk: 2 ** 30, machine: 'q35', cpuWeight: 100, disks: [] }),
      boot: { kernel: 'k', initrd: 'i', cmdline: '' }, accelerator: 'tcg',
      files: { disk: 'd', qmp: 'q', console: 'c', consoleLog: 'l', pid: 'p', agent: 'a', qga: 'g', disks: 'x' },
    });
    expect(argv.join(' ')).toContain('-smp cpus=1,maxcpus=2');
    expect(argv.join(' ')).toContain('-accel tcg,thread=single,tb-size=128');
    expect(argv.join(' ')).toContain('-device virtio-balloon-pci,id=balloon0,free-page-reporting=on');
  });
});
