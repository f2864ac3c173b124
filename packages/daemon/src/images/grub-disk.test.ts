import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRUB_I386_PC_DIR, PARTITION_START_SECTOR, SECTOR } from './grub-boot.js';
import { buildGrubDisk } from './grub-disk.js';

// Real sfdisk, mke2fs and grub-mkimage (scripts/ensure-deps installs them) on a 32 MiB disk; no VM.
const UUID = '0b6f3d1e-8c1a-4a53-9a0e-6f6b1f3c2d10';
const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('buildGrubDisk', () => {
  let dir: string;
  let raw: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lodge-grub-'));
    const stage = join(dir, 'stage');
    await mkdir(join(stage, 'boot'), { recursive: true });
    await writeFile(join(stage, 'boot/hello'), 'hi\n');
    await buildGrubDisk({ stageDir: stage, rawFile: join(dir, 'disk.raw'), output: join(dir, 'disk.qcow2'), sizeMiB: 32, label: 'lodge-root', uuid: UUID, cmdline: `root=UUID=${UUID} rw` });
    raw = join(dir, 'back.raw');
    sh('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', join(dir, 'disk.qcow2'), raw]);
  }, 60_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('has one bootable Linux partition from 1 MiB to the end of the disk', () => {
    const { partitiontable: t } = JSON.parse(sh('sfdisk', ['--json', raw])) as { partitiontable: { label: string; partitions: { start: number; size: number; type: string; bootable?: boolean }[] } };
    expect(t.label).toBe('dos');
    expect(t.partitions).toEqual([expect.objectContaining({ start: PARTITION_START_SECTOR, size: 32 * 2048 - PARTITION_START_SECTOR, type: '83', bootable: true })]);
  });

  it('holds the staged files and grub.cfg in an ext4 with the given UUID and label, in the partition', () => {
    const fs = `${raw}?offset=${PARTITION_START_SECTOR * SECTOR}`;
    expect(sh('debugfs', ['-R', 'cat /boot/hello', fs])).toBe('hi\n');
    expect(sh('debugfs', ['-R', 'cat /boot/grub/grub.cfg', fs])).toContain(`linux /vmlinuz root=UUID=${UUID} rw`);
    const probe = sh('blkid', ['-p', '-O', String(PARTITION_START_SECTOR * SECTOR), '-o', 'export', raw]);
    expect(probe).toContain(`UUID=${UUID}`);
    expect(probe).toContain('LABEL=lodge-root');
    expect(probe).toContain('TYPE=ext4');
  });

  it("has GRUB's boot code in the MBR and core.img (with the UUID search) in the gap", async () => {
    const disk = await readFile(raw);
    const boot = await readFile(join(GRUB_I386_PC_DIR, 'boot.img'));
    expect(disk.subarray(0x5a, 0x66)).toEqual(Buffer.concat([boot.subarray(0x5a, 0x5c), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), boot.subarray(0x64, 0x66)]));
    expect(disk.subarray(0x68, 0x1b8)).toEqual(boot.subarray(0x68, 0x1b8));
    expect(disk.readUInt16LE(0x1fe)).toBe(0xaa55);
    const gap = disk.subarray(SECTOR, PARTITION_START_SECTOR * SECTOR);
    const coreSectors = gap.readUInt16LE(SECTOR - 4) + 1; // diskboot's blocklist: sectors after the first
    expect(gap.readBigUInt64LE(SECTOR - 12)).toBe(2n);
    expect(coreSectors).toBeGreaterThan(10);
    expect(coreSectors).toBeLessThan(PARTITION_START_SECTOR - 1);
  });
});
