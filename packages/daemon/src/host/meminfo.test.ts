import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseMemInfo, readMemInfo } from './meminfo.js';
import { readCpuInfo, readDiskSpace } from './live-resources.js';

const MEMINFO = `MemTotal:       24573964 kB
MemFree:         1016040 kB
MemAvailable:   20971520 kB
Buffers:          123456 kB
Cached:          9999999 kB
Active(anon):     100000 kB
HugePages_Total:       0
`;

describe('parseMemInfo', () => {
  it('converts MemTotal and MemAvailable from KiB to bytes', () => {
    expect(parseMemInfo(MEMINFO)).toEqual({ totalBytes: 24573964 * 1024, availableBytes: 20 * 1024 ** 3 });
  });

  it('estimates available memory from free, buffers and cache on kernels without MemAvailable', () => {
    const old = MEMINFO.replace(/^MemAvailable.*\n/m, '');
    expect(parseMemInfo(old).availableBytes).toBe((1016040 + 123456 + 9999999) * 1024);
  });

  it('refuses text without MemTotal', () => {
    expect(() => parseMemInfo('MemFree: 1 kB\n')).toThrow(/MemTotal/);
  });
});

describe('live resources', () => {
  it('reads a meminfo file afresh on every call', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meminfo-test-'));
    try {
      const path = join(dir, 'meminfo');
      await writeFile(path, 'MemTotal: 2048 kB\nMemAvailable: 1024 kB\n');
      expect(await readMemInfo(path)).toEqual({ totalBytes: 2048 * 1024, availableBytes: 1024 * 1024 });
      await writeFile(path, 'MemTotal: 2048 kB\nMemAvailable: 512 kB\n');
      expect((await readMemInfo(path)).availableBytes).toBe(512 * 1024);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads this host: CPUs, memory and the disk holding a folder', async () => {
    const cpu = readCpuInfo();
    expect(cpu.count).toBeGreaterThan(0);
    expect(cpu.model.length).toBeGreaterThan(0);
    const mem = await readMemInfo();
    expect(mem.availableBytes).toBeLessThanOrEqual(mem.totalBytes);
    const disk = await readDiskSpace(tmpdir());
    expect(disk.path).toBe(tmpdir());
    expect(disk.freeBytes).toBeGreaterThan(0);
    expect(disk.freeBytes).toBeLessThanOrEqual(disk.totalBytes);
  });
});
