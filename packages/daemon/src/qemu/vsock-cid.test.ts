import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LodgeError } from '@lodge/api';
import { fakeQemu } from '../host/fake-qemu.js';
import { launchDaemonized } from './qemu-launcher.js';
import { describe, expect, it } from 'vitest';
import { cidFromArgv, launchWithFreeCid, MAX_GUEST_CID, MIN_GUEST_CID, preferredCid, randomCid, vsockArgv } from './vsock-cid.js';

const inUse = (cid: number): LodgeError =>
  new LodgeError('qemu_failed', `QEMU exited at start with code 1: qemu-system-x86_64: -device vhost-vsock-pci,id=vsock0,guest-cid=${cid}: vhost-vsock: unable to set guest cid: Address already in use`);

describe('CID choice', () => {
  it('is stable per data folder and VM, and differs between them, always in range', () => {
    const a = preferredCid('/var/lib/lodge', 'web');
    expect(preferredCid('/var/lib/lodge', 'web')).toBe(a);
    expect(preferredCid('/home/u/.local/share/lodge', 'web')).not.toBe(a);
    expect(preferredCid('/var/lib/lodge', 'db')).not.toBe(a);
    for (let i = 0; i < 200; i++) {
      for (const cid of [preferredCid('/d', `vm${i}`), randomCid()]) {
        expect(cid).toBeGreaterThanOrEqual(MIN_GUEST_CID);
        expect(cid).toBeLessThanOrEqual(MAX_GUEST_CID);
      }
    }
  });
});

describe('launchWithFreeCid', () => {
  it('retries with another CID only on QEMU\'s "address already in use" failure', async () => {
    const taken = new Set([10, 11]);
    const tried: number[] = [];
    const fresh = [11, 10, 12];
    const got = await launchWithFreeCid(10, async (cid) => {
      tried.push(cid);
      if (taken.has(cid)) throw inUse(cid);
      return `pid-for-${cid}`;
    }, () => fresh.shift() ?? 99);
    expect(got).toEqual({ cid: 12, value: 'pid-for-12' });
    expect(tried).toEqual([10, 11, 12]); // 10 is not tried twice
  });

  it('passes any other failure through at once', async () => {
    let calls = 0;
    const other = new LodgeError('qemu_failed', 'QEMU exited at start with code 1: could not open disk image');
    await expect(launchWithFreeCid(5, async () => {
      calls++;
      throw other;
    })).rejects.toBe(other);
    expect(calls).toBe(1);
  });

  it('gives up after a bounded number of tries, naming them', async () => {
    let n = 100;
    const err = await launchWithFreeCid(3, async (cid) => {
      throw inUse(cid);
    }, () => n++, 4).then(() => undefined, (e: unknown) => e as LodgeError);
    expect(err).toBeInstanceOf(LodgeError);
    expect(err?.code).toBe('qemu_failed');
    expect(err?.message).toContain('(3, 100, 101, 102)');
  });
});

describe('through the real launcher', () => {
  it('a QEMU that fails on a taken CID is started again with the next one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vsock-launch-'));
    try {
      // Stands in for QEMU with CID 7 held by another VM: its exact start-up error, else a pid file and exit 0.
      const qemu = await fakeQemu(dir, 'qemu', [
        'case "$*" in *guest-cid=7*)',
        '  echo "qemu-system-x86_64: -device vhost-vsock-pci,id=vsock0,guest-cid=7: vhost-vsock: unable to set guest cid: Address already in use" >&2; exit 1;;',
        'esac',
        `echo 4242 > ${join(dir, 'qemu.pid')}`,
      ].join('\n'));
      const files = { pid: join(dir, 'qemu.pid'), log: join(dir, 'qemu.log') };
      const started = await launchWithFreeCid(7, (cid) => launchDaemonized({ binary: qemu, argv: vsockArgv(cid, 'q35'), cwd: dir, files }), () => 8);
      expect(started).toEqual({ cid: 8, value: 4242 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('argv', () => {
  it('uses the PCI device on q35/pc and the virtio-mmio one on microvm', () => {
    expect(vsockArgv(42, 'q35')).toEqual(['-device', 'vhost-vsock-pci,id=vsock0,guest-cid=42']);
    expect(vsockArgv(42, 'pc')).toEqual(['-device', 'vhost-vsock-pci,id=vsock0,guest-cid=42']);
    expect(vsockArgv(42, 'microvm')).toEqual(['-device', 'vhost-vsock-device,id=vsock0,guest-cid=42']);
  });
  it('reads the CID back from a running QEMU\'s argv', () => {
    expect(cidFromArgv(['qemu', '-device', 'virtio-net-pci,netdev=net0', ...vsockArgv(77, 'q35')])).toBe(77);
    expect(cidFromArgv(['qemu', ...vsockArgv(2 ** 31 - 1, 'microvm')])).toBe(2 ** 31 - 1);
    expect(cidFromArgv(['qemu', '-device', 'virtio-net-pci,netdev=net0'])).toBeUndefined();
  });
});
