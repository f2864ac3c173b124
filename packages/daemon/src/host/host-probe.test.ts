import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HostInfo } from '@lodge/api';
import { probeHost, type HostProbeOptions } from './host-probe.js';

let dir: string;
let opts: HostProbeOptions;
let versionRuns: () => Promise<number>;

/** A fake host: qemu-system that counts its --version runs, a boot id file, meminfo, a v2 cgroup tree and no KVM. */
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'host-probe-test-'));
  const qemu = join(dir, 'qemu-system-x86_64');
  await writeFile(qemu, `#!/bin/sh\necho run >> ${dir}/runs\necho "QEMU emulator version 7.2.22 (fake)"\n`);
  await chmod(qemu, 0o755);
  await writeFile(join(dir, 'boot_id'), 'boot-1\n');
  await writeFile(join(dir, 'meminfo'), 'MemTotal: 4096 kB\nMemAvailable: 1024 kB\n');
  await mkdir(join(dir, 'cgroup'));
  await writeFile(join(dir, 'cgroup', 'cgroup.controllers'), 'cpu memory pids\n');
  const paths = { bootId: join(dir, 'boot_id'), meminfo: join(dir, 'meminfo'), cgroupRoot: join(dir, 'cgroup'), kvmDevice: join(dir, 'no-kvm') };
  opts = { dataDir: join(dir, 'data'), env: { PATH: '/usr/bin:/bin', LODGE_QEMU_SYSTEM: qemu }, paths };
  versionRuns = async () => (await readFile(join(dir, 'runs'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
});
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

describe('probeHost', () => {
  it('returns a HostInfo with the probed parts and the live parts', async () => {
    const info = HostInfo.parse(await probeHost(opts));
    expect(info).toMatchObject({
      memory: { totalBytes: 4096 * 1024, availableBytes: 1024 * 1024 },
      disk: { path: opts.dataDir },
      qemu: { system: join(dir, 'qemu-system-x86_64'), version: '7.2.22' },
      cgroup: { version: 'v2', controllers: ['cpu', 'memory', 'pids'], writable: true, mode: 'cgroup' },
      accelerator: 'tcg',
      bootId: 'boot-1',
    });
    expect(info.acceleratorNote).toMatch(/^no .*no-kvm.*; using TCG$/);
  });

  it('probes once per boot id, and again after the host reboots', async () => {
    const first = await probeHost(opts);
    await writeFile(opts.paths!.meminfo!, 'MemTotal: 4096 kB\nMemAvailable: 2048 kB\n');
    const second = await probeHost(opts);
    expect(await versionRuns()).toBe(1);
    expect(second.probedAt).toBe(first.probedAt);
    expect(second.memory.availableBytes).toBe(2048 * 1024);
    await writeFile(opts.paths!.bootId!, 'boot-2\n');
    const third = await probeHost(opts);
    expect(await versionRuns()).toBe(2);
    expect(third.bootId).toBe('boot-2');
  });

  it('probes again when the qemu binary changes or when asked to refresh', async () => {
    await probeHost(opts);
    await probeHost({ ...opts, refresh: true });
    expect(await versionRuns()).toBe(2);
    const qemu = opts.env!.LODGE_QEMU_SYSTEM!;
    await writeFile(qemu, `${await readFile(qemu, 'utf8')}# upgraded\n`);
    await probeHost(opts);
    expect(await versionRuns()).toBe(3);
  });

  it('ignores and rewrites a corrupt cache file', async () => {
    await probeHost(opts);
    const cache = join(opts.dataDir, 'host-probe.json');
    await writeFile(cache, '{"schema": 1, "key": tru');
    await probeHost(opts);
    expect(await versionRuns()).toBe(2);
    expect(JSON.parse(await readFile(cache, 'utf8'))).toMatchObject({ schema: 1, key: { bootId: 'boot-1' } });
  });

  it('shares one in-flight probe between concurrent callers', async () => {
    const all = await Promise.all([probeHost(opts), probeHost(opts), probeHost(opts)]);
    expect(await versionRuns()).toBe(1);
    expect(new Set(all.map((i) => i.probedAt)).size).toBe(1);
  });

  it('reports a missing qemu-system without probing KVM', async () => {
    const info = await probeHost({ ...opts, env: { PATH: '/nonexistent-dir', LODGE_QEMU_SYSTEM: '/nonexistent' } });
    expect(info.qemu.system).toBeUndefined();
    expect(info.qemu.note).toContain('qemu-system-x86_64 not found at /nonexistent');
    expect(info.accelerator).toBe('tcg');
  });
});
