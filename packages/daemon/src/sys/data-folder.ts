import { homedir } from 'node:os';
import { join } from 'node:path';
import { dataRootFor, LodgeError, LOG_FILE, PID_FILE, SOCKET_FILE } from '@lodge/api';

/** Every file in the data folder; docs/internals.md describes each one. */
export const DATA_FILES = {
  socket: SOCKET_FILE,
  pid: PID_FILE,
  log: LOG_FILE,
  db: 'lodge.db',
  config: 'config.yaml',
  hostProbe: 'host-probe.json',
  images: 'images',
  vms: 'vms',
} as const;

/** Every file in a VM's folder; docs/internals.md describes each one. */
export const VM_FILES = {
  disk: 'disk.qcow2',
  qmp: 'qmp.sock',
  console: 'console.sock',
  consoleLog: 'console.log',
  agent: 'agent.sock',
  qga: 'qga.sock',
  pid: 'qemu.pid',
  qemuLog: 'qemu.log',
  cmdline: 'qemu.cmdline',
  /** The NoCloud seed (ISO 9660, label cidata), rewritten from the spec at each start of an image with a first-boot step. */
  seed: 'cidata.iso',
  /** Extra disks, one `<disk>.qcow2` each (extraDiskFile). */
  disks: 'disks',
  /** Links to the image's files as they were at create (image-pin.ts): the disk's backing file, kernel, initrd, manifest. */
  image: 'image',
} as const;

/** An extra disk's file inside a VM's `disks/` folder. */
export const extraDiskFile = (disksDir: string, disk: string): string => join(disksDir, `${disk}.qcow2`);

/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

export interface DataFolder {
  root: string;
  imagesDir: string;
  file(name: keyof typeof DATA_FILES): string;
  vmDir(vm: string): string;
  vmFile(vm: string, name: keyof typeof VM_FILES): string;
}

/** LODGE_HOME, else /var/lib/lodge for root, else ~/.local/share/lodge. */
export function defaultDataRoot(env: NodeJS.ProcessEnv = process.env): string {
  return dataRootFor({ env, uid: process.getuid?.(), home: homedir() });
}

export function dataFolder(root: string, env: NodeJS.ProcessEnv = process.env): DataFolder {
  const vmsDir = join(root, DATA_FILES.vms);
  return {
    root,
    imagesDir: env.LODGE_IMAGES_DIR ?? join(root, DATA_FILES.images),
    file: (name) => join(root, DATA_FILES[name]),
    vmDir: (vm) => join(vmsDir, vm),
    vmFile: (vm, name) => join(vmsDir, vm, VM_FILES[name]),
  };
}

/** Unix socket paths are short; say so before QEMU fails with a cryptic bind error. */
export function checkSocketPaths(folder: DataFolder, vm: string): void {
  for (const path of (['qmp', 'console', 'agent', 'qga'] as const).map((name) => folder.vmFile(vm, name))) {
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      throw new LodgeError('invalid_argument', `socket path ${path} is longer than the ${MAX_SOCKET_PATH} bytes unix sockets allow`, {
        hint: 'use a shorter VM name or set LODGE_HOME to a shorter folder',
      });
    }
  }
}
