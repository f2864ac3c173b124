import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageEntry } from '@lodge/api';
import { buildMicroImage, MICRO_BOOT_MARKER } from '../../packages/daemon/src/images/micro-image.js';

// Builds the micro image into the shared test cache (once per cache), boots it under TCG on a qcow2 overlay,
// talks to its serial console and QMP, and powers it off with the ACPI button.
const run = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));
const imagesDir = process.env.LODGE_TEST_IMAGES ?? join(repo, 'test/.cache/images');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** A unix socket client that keeps everything it received. */
async function dial(path: string): Promise<{ socket: Socket; received: () => string }> {
  const socket = await until(`socket ${path}`, 10_000, () =>
    new Promise<Socket | undefined>((resolve) => {
      const s = connect(path);
      s.once('connect', () => resolve(s));
      s.once('error', () => resolve(undefined));
    }),
  );
  let text = '';
  socket.setEncoding('utf8').on('data', (d: string) => (text += d));
  return { socket, received: () => text };
}

describe('micro image', () => {
  let image: ImageEntry;
  let dir: string | undefined;
  let qemu: ChildProcess | undefined;
  let exited: Promise<number | null> | undefined;
  let bootSeconds = 0;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    const t0 = performance.now();
    image = (await buildMicroImage({ imagesDir })).image;
    console.log(`build (or cache hit): ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    if (qemu && qemu.exitCode === null && qemu.signalCode === null) {
      qemu.kill('SIGKILL');
      await exited;
    }
    if (dir) {
      await rm(dir, { recursive: true, force: true });
      // pgrep exits 1 when nothing matches: no QEMU of this test outlives it.
      const leaked = await run('pgrep', ['-f', `qemu-system-x86_64.*${dir}`]).then((r) => r.stdout.trim(), () => '');
      expect(leaked).toBe('');
    }
  });

  it('is a cache hit the second time, in under a second', async () => {
    const t0 = performance.now();
    const again = await buildMicroImage({ imagesDir });
    const ms = performance.now() - t0;
    expect(again.cached).toBe(true);
    expect(again.image).toEqual(image);
    expect(ms).toBeLessThan(1000);
  });

  it('boots under TCG to the marker and gives a shell on the serial console', async () => {
    if (image.kernel === undefined || image.initrd === undefined) throw new Error('the micro image boots its own kernel and initrd');
    dir = await mkdtemp(join(tmpdir(), 'lodge-e2e-micro-'));
    const overlay = join(dir, 'overlay.qcow2');
    const [sock, qmp, log] = [join(dir, 'serial.sock'), join(dir, 'qmp.sock'), join(dir, 'serial.log')];
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', join(image.folder, image.disk), overlay, '1G']);
    const t0 = performance.now();
    qemu = spawn('qemu-system-x86_64', [
      '-accel', 'tcg', '-M', 'q35', '-nodefaults', '-display', 'none', '-m', '256M', '-no-reboot',
      '-kernel', join(image.folder, image.kernel), '-initrd', join(image.folder, image.initrd), '-append', image.kernelCmdline,
      '-drive', `file=${overlay},if=none,id=d0,format=qcow2`, '-device', 'virtio-blk-pci,drive=d0',
      '-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0',
      '-chardev', `socket,id=ser0,path=${sock},server=on,wait=off,logfile=${log}`, '-serial', 'chardev:ser0',
      '-qmp', `unix:${qmp},server=on,wait=off`,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    qemu.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const proc = qemu;
    exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));

    const consoleLog = (): Promise<string> => readFile(log, 'utf8').catch(() => '');
    await until('the boot marker', 90_000, async () => {
      if (proc.exitCode !== null) throw new Error(`QEMU exited early (${proc.exitCode}): ${stderr}`);
      return (await consoleLog()).includes(MICRO_BOOT_MARKER) ? true : undefined;
    });
    bootSeconds = (performance.now() - t0) / 1000;
    console.log(`boot to marker under TCG: ${bootSeconds.toFixed(2)} s`);
    expect(image.bootMarker).toBe(MICRO_BOOT_MARKER);

    const serial = await dial(sock);
    sockets.push(serial.socket);
    // Typed until answered: input sent before the shell opens ttyS0 is dropped when the UART is set up.
    await until('42 from the shell', 30_000, async () => {
      if (/(^|\n)42\r?\n/.test(serial.received())) return true;
      serial.socket.write('echo $((6*7))\n');
      await sleep(700);
      return /(^|\n)42\r?\n/.test(serial.received()) ? true : undefined;
    });
    serial.socket.write('uname -r\n');
    await until('uname -r', 10_000, () => (serial.received().includes(`\n${image.kernelVersion}`) ? true : undefined));
  });

  it('powers off on QMP system_powerdown (ACPI power button) within 20 s', async () => {
    expect(qemu, 'the boot test must have started QEMU').toBeDefined();
    const dirPath = dir ?? '';
    const monitor = await dial(join(dirPath, 'qmp.sock'));
    sockets.push(monitor.socket);
    await until('QMP greeting', 10_000, () => (monitor.received().includes('"QMP"') ? true : undefined));
    monitor.socket.write('{"execute":"qmp_capabilities"}\n');
    await until('QMP capabilities', 10_000, () => (monitor.received().includes('"return"') ? true : undefined));
    const t0 = performance.now();
    monitor.socket.write('{"execute":"system_powerdown"}\n');
    const code = await Promise.race([exited, sleep(20_000).then(() => 'timeout' as const)]);
    console.log(`ACPI powerdown to QEMU exit: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    expect(code).toBe(0);
    expect(monitor.received()).toContain('"SHUTDOWN"');
  });
});
