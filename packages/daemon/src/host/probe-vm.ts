import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CPU_MODEL } from '../qemu/qemu-argv.js';

/** The guest writes 0x42 to isa-debug-exit; QEMU then exits with (0x42 << 1) | 1. */
export const PROBE_EXIT_CODE = 133;
const DEBUG_EXIT_PORT = 0xf4;

export interface ProbeVmOptions {
  qemuSystem: string;
  accel: 'kvm' | 'tcg';
  timeoutMs: number;
  signal?: AbortSignal;
  /** Another boot sector; tests use a broken one to show that exit code 133 comes from the guest. */
  sector?: Buffer;
}

export interface ProbeVmResult {
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  timedOut: boolean;
  stderr: string;
  elapsedMs: number;
}

/** `mov al,0x42; out 0xf4,al; cli; 1: hlt; jmp 1b` plus the 0x55AA boot signature. */
export function bootSector(): Buffer {
  const sector = Buffer.alloc(512);
  Buffer.from([0xb0, 0x42, 0xe6, DEBUG_EXIT_PORT, 0xfa, 0xf4, 0xeb, 0xfd]).copy(sector);
  sector.writeUInt16LE(0xaa55, 510);
  return sector;
}

/** Boots the probe sector once; the process is killed and the temp folder removed on every path. */
export async function runProbeVm(opts: ProbeVmOptions): Promise<ProbeVmResult> {
  opts.signal?.throwIfAborted();
  const dir = await mkdtemp(join(tmpdir(), 'lodge-accel-'));
  try {
    const boot = join(dir, 'boot.img');
    await writeFile(boot, opts.sector ?? bootSector());
    // IDE boots about 40 ms sooner than floppy under SeaBIOS.
    // Same CPU model as real VMs: here the default CPU runs under nested KVM while `-cpu host` aborts.
    const args = ['-accel', opts.accel, '-cpu', CPU_MODEL[opts.accel], '-M', 'pc', '-nodefaults', '-no-user-config', '-display', 'none',
      '-device', `isa-debug-exit,iobase=0x${DEBUG_EXIT_PORT.toString(16)},iosize=0x04`,
      '-drive', `file=${boot},format=raw,if=ide`];
    return await spawnWithTimeout(opts.qemuSystem, args, opts.timeoutMs, opts.signal);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function spawnWithTimeout(cmd: string, args: string[], timeoutMs: number, signal?: AbortSignal): Promise<ProbeVmResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let timedOut = false;
    // Bounded: a broken QEMU must not fill our memory through stderr.
    child.stderr.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4096); });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    const onAbort = (): void => { child.kill('SIGKILL'); };
    signal?.addEventListener('abort', onAbort, { once: true });
    const settle = (): void => { clearTimeout(timer); signal?.removeEventListener('abort', onAbort); };
    child.once('error', (err) => { settle(); reject(err); });
    child.once('close', (exitCode, exitSignal) => {
      settle();
      if (signal?.aborted) return reject(signal.reason);
      resolve({ exitCode, exitSignal, timedOut, stderr: stderr.trim(), elapsedMs: performance.now() - started });
    });
  });
}
