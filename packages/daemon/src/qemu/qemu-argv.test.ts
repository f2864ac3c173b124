import { describe, expect, it } from 'vitest';
import { VmSpec } from '@lodge/api';
import { bootArgv, bootFilesOf, buildArgv, hardwareArgv } from './qemu-argv.js';
import { escapeValue, option } from './qemu-option.js';

const spec: VmSpec = VmSpec.parse({ name: 'web', image: 'micro', cpus: 2, memory: 512 * 2 ** 20, disk: 2 ** 30, machine: 'q35', cpuWeight: 100, disks: [] });
const files = {
  disk: '/d/vms/web/disk.qcow2', qmp: '/d/vms/web/qmp.sock', console: '/d/vms/web/console.sock', consoleLog: '/d/vms/web/console.log',
  pid: '/d/vms/web/qemu.pid', agent: '/d/vms/web/agent.sock', qga: '/d/vms/web/qga.sock', disks: '/d/vms/web/disks',
};
const boot = { kernel: '/i/vmlinuz', initrd: '/i/initrd.img', cmdline: 'console=ttyS0 root=/dev/vda' };

function valueOf(argv: string[], flag: string): string[] {
  return argv.flatMap((a, i) => (a === flag ? [argv[i + 1] ?? ''] : []));
}

describe('qemu option escaping', () => {
  it('doubles commas so a value cannot add options', () => {
    expect(escapeValue('/tmp/a,b')).toBe('/tmp/a,,b');
    expect(option('socket', { path: '/x,server=off', server: true })).toBe('socket,path=/x,,server=off,server=on');
  });
  it('refuses NUL and newline', () => {
    expect(() => escapeValue('a\nb')).toThrow(/NUL or newline/);
  });
});

describe('boot from the disk', () => {
  it('gives no -kernel, -initrd or -append when the image has no kernel, so SeaBIOS boots the disk', () => {
    const argv = buildArgv({ spec, boot: undefined, files, accelerator: 'tcg' });
    for (const flag of ['-kernel', '-initrd', '-append']) expect(argv).not.toContain(flag);
    expect(valueOf(argv, '-drive')[0]).toMatch(/^file=\/d\/vms\/web\/disk.qcow2,/);
  });
  it('refuses a disk boot on microvm, whose firmware only starts a given kernel', () => {
    expect(() => bootArgv(undefined, 'microvm')).toThrow(/microvm VM cannot boot from its disk/);
  });
  it('drops -initrd when the kernel comes alone', () => {
    expect(bootArgv({ kernel: '/k', cmdline: 'x' }, 'q35')).toEqual(['-kernel', '/k', '-append', 'x']);
  });
  it("gives a direct-boot kernel the VM's name, which the micro image takes as its hostname", () => {
    expect(bootArgv({ kernel: '/k', cmdline: 'x' }, 'q35', { hostname: 'web-1' })).toEqual(['-kernel', '/k', '-append', 'x lodge.hostname=web-1']);
  });
  it('turns the guest kernel speculation mitigations off under TCG only, where they guard nothing', () => {
    const append = (accelerator: 'tcg' | 'kvm'): string | undefined => valueOf(buildArgv({ spec, boot, files, accelerator }), '-append')[0];
    expect(append('tcg')).toBe(`${boot.cmdline} lodge.hostname=${spec.name} mitigations=off`);
    expect(append('kvm')).toBe(`${boot.cmdline} lodge.hostname=${spec.name}`);
  });
  it('maps the manifest files into the image folder, and no kernel to no boot files', () => {
    const base = { name: 'i', disk: 'disk.qcow2', kernelCmdline: 'c', sizeBytes: 1, builtAt: '', folder: '/img/i' };
    expect(bootFilesOf(base)).toBeUndefined();
    expect(bootFilesOf({ ...base, kernel: 'vmlinuz', initrd: 'initrd.img' })).toEqual({ kernel: '/img/i/vmlinuz', initrd: '/img/i/initrd.img', cmdline: 'c' });
  });
});

describe('buildArgv', () => {
  const argv = buildArgv({ spec, boot, files, accelerator: 'tcg' });

  it('starts paused and daemonized, with no default devices', () => {
    expect(argv).toContain('-S');
    expect(argv).toContain('-daemonize');
    expect(argv).toContain('-nodefaults');
    expect(valueOf(argv, '-pidfile')).toEqual([files.pid]);
  });
  it('sizes the guest from the spec', () => {
    expect(valueOf(argv, '-smp')[0]).toBe('cpus=2,maxcpus=2');
    expect(valueOf(argv, '-m')).toEqual(['512M']);
    expect(valueOf(argv, '-machine')).toEqual(['q35']);
  });
  it('boots the kernel directly with the qcow2 overlay on virtio', () => {
    expect(valueOf(argv, '-kernel')).toEqual([boot.kernel]);
    expect(valueOf(argv, '-append')).toEqual([`${boot.cmdline} lodge.hostname=web mitigations=off`]);
    expect(valueOf(argv, '-drive')[0]).toBe(`file=${files.disk},if=none,id=root,format=qcow2,discard=unmap,detect-zeroes=unmap`);
    expect(valueOf(argv, '-device')).toContain('virtio-blk-pci,drive=root,id=disk-root,serial=root');
  });
  it('puts the console on a socket with a log file, and QMP on its own socket', () => {
    const chardevs = valueOf(argv, '-chardev');
    expect(chardevs[0]).toBe(`socket,id=console,path=${files.console},server=on,wait=off,logfile=${files.consoleLog},logappend=on`);
    expect(chardevs[1]).toBe(`socket,id=qmp,path=${files.qmp},server=on,wait=off`);
    expect(valueOf(argv, '-mon')).toEqual(['chardev=qmp,mode=control']);
  });
  it('gives the guest a virtio-serial controller with the Lodge agent and QGA ports, each on its own socket', () => {
    const chardevs = valueOf(argv, '-chardev');
    expect(chardevs).toContain(`socket,id=agent,path=${files.agent},server=on,wait=off`);
    expect(chardevs).toContain(`socket,id=qga,path=${files.qga},server=on,wait=off`);
    const devices = valueOf(argv, '-device');
    expect(devices).toContain('virtio-serial-pci,id=vser0');
    expect(devices).toContain('virtserialport,bus=vser0.0,chardev=agent,name=org.lodge.agent.0');
    expect(devices).toContain('virtserialport,bus=vser0.0,chardev=qga,name=org.qemu.guest_agent.0');
    // The controller comes before its ports, and every port's chardev is defined.
    expect(devices.indexOf('virtio-serial-pci,id=vser0')).toBeLessThan(devices.findIndex((d) => d.startsWith('virtserialport')));
    for (const id of ['agent', 'qga']) expect(chardevs.some((c) => c.includes(`id=${id},`))).toBe(true);
  });
  it('keeps the agent ports out of the hardware shared with the raw-QEMU baseline', () => {
    const hw = hardwareArgv({ spec, boot, accelerator: 'tcg', disk: files.disk });
    expect(hw.some((a) => a.includes('virtserialport') || a.includes('virtio-serial'))).toBe(false);
  });
  it('uses TCG with a capped translation cache, or KVM with the host CPU', () => {
    expect(valueOf(argv, '-accel')[0]).toMatch(/^tcg,thread=(multi|single),tb-size=\d+$/);
    const kvm = buildArgv({ spec, boot, files, accelerator: 'kvm' });
    expect(valueOf(kvm, '-accel')).toEqual(['kvm']);
    expect(valueOf(kvm, '-cpu')).toEqual(['host']);
  });
  it('escapes user-controlled paths', () => {
    const odd = buildArgv({ spec, boot, files: { ...files, disk: '/home/a,b/disk.qcow2', console: '/h/x,y.sock' }, accelerator: 'tcg' });
    expect(valueOf(odd, '-drive')[0]).toContain('file=/home/a,,b/disk.qcow2,if=none');
    expect(valueOf(odd, '-chardev')[0]).toContain('path=/h/x,,y.sock,');
  });
  it('gives microvm guests virtio-mmio devices and the host TSC frequency', () => {
    const micro = buildArgv({ spec: { ...spec, machine: 'microvm' }, boot, files, accelerator: 'tcg', hostKhz: 2_000_000 });
    expect(valueOf(micro, '-device')).toContain('virtio-blk-device,drive=root,id=disk-root,serial=root');
    expect(valueOf(micro, '-device')).toContain('virtio-serial-device,id=vser0');
    expect(valueOf(micro, '-append')[0]).toMatch(/tsc_early_khz=2000000$/);
  });
});

describe('vsock', () => {
  it('adds no vsock device without a CID (a host without vhost-vsock)', () => {
    const argv = buildArgv({ spec, boot, files, accelerator: 'tcg' });
    expect(argv.join(' ')).not.toContain('vsock');
  });
  it('adds the vsock device with the CID, next to the virtio-serial ports (the fallback channel)', () => {
    const argv = buildArgv({ spec, boot, files, accelerator: 'tcg', vsockCid: 1234 });
    expect(valueOf(argv, '-device')).toContain('vhost-vsock-pci,id=vsock0,guest-cid=1234');
    expect(valueOf(argv, '-device')).toContain('virtserialport,bus=vser0.0,chardev=agent,name=org.lodge.agent.0');
    const micro = buildArgv({ spec: { ...spec, machine: 'microvm' }, boot, files, accelerator: 'tcg', vsockCid: 9 });
    expect(valueOf(micro, '-device')).toContain('vhost-vsock-device,id=vsock0,guest-cid=9');
  });
});
