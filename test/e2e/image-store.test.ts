import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageDetails, ImageEntry } from '@lodge/api';
import { IMAGES_DIR, TestLodge } from './harness.js';

/** What the boot sector below writes to COM1 once SeaBIOS has run it from the VM's disk. */
const DISK_MARKER = 'lodge-disk-boot: boot sector reached';
/** The same from a second disk imported under the first one's name. */
const SECOND_MARKER = 'lodge-disk-boot: the second image';

/**
 * A boot sector that prints `marker` on the serial port and halts:
 * xor ax,ax; mov ds,ax; cld; mov si,msg; mov dx,0x3f8; 1: lodsb; test al,al; jz 2f; out dx,al; jmp 1b; 2: cli; hlt; jmp 2b.
 */
function markerDisk(marker = DISK_MARKER): Buffer {
  const code = [0x31, 0xc0, 0x8e, 0xd8, 0xfc, 0xbe, 0x17, 0x7c, 0xba, 0xf8, 0x03, 0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0xfa, 0xf4, 0xeb, 0xfc];
  const disk = Buffer.alloc(2 ** 20);
  Buffer.from(code).copy(disk);
  disk.write(`${marker}\r\n\0`, code.length, 'latin1');
  disk.writeUInt16LE(0xaa55, 510);
  return disk;
}

describe('image store: import, list, inspect, rm, and a VM booting an imported disk', () => {
  const lodge = new TestLodge();
  const images = join(lodge.home, 'images');
  lodge.env.LODGE_IMAGES_DIR = images; // imports go to this test's own store, never the shared micro cache
  const files = join(lodge.home, 'files');
  const qemuImg = (...args: string[]): void => void execFileSync('qemu-img', args);
  /** The store holds exactly these images and no temp folder. */
  const storeHolds = (names: string[]): void => expect(readdirSync(images).sort()).toEqual(names.sort());

  beforeAll(async () => {
    execFileSync('mkdir', ['-p', files, images]);
    writeFileSync(join(files, 'boot.raw'), markerDisk());
    writeFileSync(join(files, 'second.raw'), markerDisk(SECOND_MARKER));
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', join(files, 'boot.raw'), join(files, 'boot.qcow2'));
    qemuImg('create', '-q', '-f', 'qcow2', '-b', '/etc/hostname', '-F', 'raw', join(files, 'hostile.qcow2'));
    writeFileSync(join(files, 'full.raw'), Buffer.alloc(3 * 2 ** 20, 0x61));
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', join(files, 'full.raw'), join(files, 'cut.qcow2'));
    truncateSync(join(files, 'cut.qcow2'), 2 ** 20);
    writeFileSync(join(files, 'notes.txt'), 'not a disk\n');
    await lodge.startDaemon();
  });
  afterAll(() => lodge.cleanup());

  it('imports a raw and a qcow2 disk, listed with size, date and source', async () => {
    for (const [name, file] of [['boot-raw', 'boot.raw'], ['boot-q', 'boot.qcow2']] as const) {
      const r = await lodge.cli(['image', 'import', name, join(files, file)]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`Imported image ${name}`);
    }
    storeHolds(['boot-raw', 'boot-q']);
    const list = await lodge.cli(['image', 'list']);
    expect(list.stdout).toMatch(/boot-raw\s+\d+K\s+\(boots from disk\)\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC\s+imported from .*\/boot\.raw/);
    const json = await lodge.cliJson<ImageEntry[]>(['image', 'list']);
    expect(json.map((i) => [i.name, i.importedFrom, i.kernel])).toEqual([['boot-q', join(files, 'boot.qcow2'), undefined], ['boot-raw', join(files, 'boot.raw'), undefined]]);
  });

  it.each([
    ['a qcow2 whose backing file is a host file', 'hostile.qcow2', /backing file/],
    ['a truncated qcow2', 'cut.qcow2', /corruption|truncated/],
    ['a file that is not a disk image', 'notes.txt', /not a disk image/],
    ['a missing file', 'absent.raw', /does not exist/],
  ])('refuses %s, leaving nothing in the store', async (_what, file, message) => {
    const r = await lodge.cli(['image', 'import', 'bad', join(files, file)]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    storeHolds(['boot-raw', 'boot-q']);
  });

  it('refuses a name that collides with an image or a recipe', async () => {
    const taken = await lodge.cli(['image', 'import', 'boot-raw', join(files, 'boot.raw')]);
    expect(taken.stderr).toMatch(/image "boot-raw" already exists/);
    const recipe = await lodge.cli(['image', 'import', 'micro', join(files, 'boot.raw')]);
    expect(recipe.stderr).toMatch(/"micro" is the name of a built-in recipe/);
    storeHolds(['boot-raw', 'boot-q']);
  });

  it('boots a VM from an imported disk (SeaBIOS, then its boot sector) and inspect names it', async () => {
    const created = await lodge.cli(['create', 'diskboot', '--image', 'boot-q', '--memory', '192M', '--cpus', '1']);
    expect(created.code, created.stderr).toBe(0);
    const micro = await lodge.cli(['create', 'tiny', '--image', 'boot-q', '--machine', 'microvm']);
    expect(micro.stderr).toMatch(/boots from its disk, which a microvm VM cannot do/);
    const started = await lodge.cli(['start', 'diskboot', '--no-wait']);
    expect(started.code, started.stderr).toBe(0);
    await lodge.waitForConsole('diskboot', DISK_MARKER, 60_000);
    const cmdline = JSON.parse(readFileSync(join(lodge.home, 'vms/diskboot/qemu.cmdline'), 'utf8')) as string[];
    expect(cmdline).not.toContain('-kernel');

    const details = await lodge.cliJson<ImageDetails>(['image', 'inspect', 'boot-q']);
    expect(details.disk).toMatchObject({ format: 'qcow2', virtualSizeBytes: 2 ** 20 });
    expect(details.disk.actualSizeBytes).toBeGreaterThan(0);
    expect(details.usedBy).toEqual(['diskboot']);
    const text = await lodge.cli(['image', 'inspect', 'boot-q']);
    expect(text.stdout).toMatch(/boot:\s+from its disk/);
    expect(text.stdout).toMatch(/disk:\s+disk\.qcow2: qcow2, virtual size 1M/);
    expect(text.stdout).toMatch(/used by:\s+diskboot/);
  });

  it('rm of an image a VM was made from leaves the VM whole: it boots its own links; the name is free for a new image', async () => {
    const rm = await lodge.cli(['image', 'rm', 'boot-q']);
    expect(rm.code, rm.stderr).toBe(0);
    storeHolds(['boot-raw']);
    const again = await lodge.cli(['image', 'import', 'boot-q', join(files, 'second.raw')]);
    expect(again.code, again.stderr).toBe(0);
    expect((await lodge.cli(['create', 'second', '--image', 'boot-q', '--memory', '192M', '--cpus', '1'])).code).toBe(0);

    expect((await lodge.cli(['stop', 'diskboot', '--force'])).code).toBe(0);
    rmSync(join(lodge.home, 'vms/diskboot/console.log')); // what the next boot prints, alone
    for (const vm of ['diskboot', 'second']) expect((await lodge.cli(['start', vm, '--no-wait'])).code).toBe(0);
    await lodge.waitForConsole('diskboot', DISK_MARKER, 60_000);
    await lodge.waitForConsole('second', SECOND_MARKER, 60_000);
    expect(lodge.consoleLog('diskboot')).not.toContain(SECOND_MARKER);
    expect((await lodge.cliJson<ImageDetails>(['image', 'inspect', 'boot-q'])).usedBy).toEqual(['diskboot', 'second']);
    expect((await lodge.cli(['delete', 'second', '--force'])).code).toBe(0);
  });

  it('rm removes a free image', async () => {
    storeHolds(['boot-raw', 'boot-q']);
    expect((await lodge.cli(['image', 'rm', 'boot-raw'])).code).toBe(0);
    storeHolds(['boot-q']);
    const gone = await lodge.cli(['image', 'inspect', 'boot-raw']);
    expect(gone.stderr).toMatch(/boot-raw/);
    expect(gone.code).not.toBe(0);

    expect((await lodge.cli(['delete', 'diskboot', '--force'])).code).toBe(0);
    expect((await lodge.cli(['image', 'rm', 'boot-q'])).code).toBe(0);
    storeHolds([]);
    expect(existsSync(join(lodge.home, 'vms', 'diskboot'))).toBe(false);
  });

  it('imports a disk with --kernel, --initrd and --cmdline and boots it directly (the micro image\'s own files)', async () => {
    const micro = JSON.parse(readFileSync(join(IMAGES_DIR, 'micro/image.json'), 'utf8')) as ImageEntry;
    const from = (f: string | undefined): string => join(IMAGES_DIR, 'micro', f ?? 'missing');
    const r = await lodge.cli(['image', 'import', 'direct', from(micro.disk), '--kernel', from(micro.kernel), '--initrd', from(micro.initrd), '--cmdline', micro.kernelCmdline]);
    expect(r.code, r.stderr).toBe(0);
    const details = await lodge.cliJson<ImageDetails>(['image', 'inspect', 'direct']);
    expect(details.image).toMatchObject({ kernel: 'vmlinuz', initrd: 'initrd.img', kernelCmdline: micro.kernelCmdline, importedFrom: from(micro.disk) });
    await lodge.bootVm('direct-vm', ['--image', 'direct', '--memory', '192M', '--cpus', '1']); // start waits for the guest agent, then the init marker
    const cmdline = JSON.parse(readFileSync(join(lodge.home, 'vms/direct-vm/qemu.cmdline'), 'utf8')) as string[];
    expect(cmdline[cmdline.indexOf('-kernel') + 1]).toBe(join(lodge.home, 'vms/direct-vm/image/vmlinuz')); // the VM's own link
    expect((await lodge.cli(['delete', 'direct-vm', '--force'])).code).toBe(0);
    expect((await lodge.cli(['image', 'rm', 'direct'])).code).toBe(0);
    storeHolds([]);
  });
});
