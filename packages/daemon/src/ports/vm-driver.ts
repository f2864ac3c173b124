import type { Duplex } from 'node:stream';
import type { Accelerator, HostInfo, ImageEntry, Progress, VmSpec } from '@lodge/api';
import type { HostResources } from './host-resources.js';

/** Why a QEMU process ended, in words for the user. */
export interface ExitInfo {
  reason: string;
}

/** One running QEMU, owned by its supervisor: the only way core touches a live VM. */
export interface VmRuntime {
  readonly pid: number;
  /** Settles once QEMU has exited and its sockets are cleaned up. */
  readonly exited: Promise<ExitInfo>;
  status(): Promise<'running' | 'paused'>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** ACPI power button: the guest decides. */
  powerdown(): Promise<void>;
  quit(): Promise<void>;
  kill(): Promise<void>;
  /** STOP / RESUME reported by QEMU, including ones we did not ask for. */
  onRunState(listener: (running: boolean) => void): () => void;
  /** Drops our connections; QEMU keeps running (daemon shutdown). */
  detach(): void;
}

export interface LaunchRequest {
  spec: VmSpec;
  image: ImageEntry;
  accelerator: Accelerator;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

export interface VmDriver {
  /** Makes the VM's folder and disk; on failure leaves nothing behind. */
  createDisk(spec: VmSpec, image: ImageEntry): Promise<void>;
  launch(req: LaunchRequest): Promise<VmRuntime>;
  /** Re-attaches to a QEMU left running by an earlier daemon (pid from the store, else its pid file), or says why it is gone. */
  attach(name: string, pid: number | undefined): Promise<VmRuntime | { gone: string }>;
  removeFiles(name: string): Promise<void>;
  folderOf(name: string): string;
  openConsole(name: string): Promise<Duplex>;
  readLog(name: string, opts: { follow: boolean; signal: AbortSignal }): AsyncIterable<Buffer>;
}

export interface ImageCatalog {
  get(name: string): Promise<ImageEntry>;
  list(): Promise<ImageEntry[]>;
  build(
    name: string,
    opts: { force: boolean; signal?: AbortSignal; onProgress: (p: Progress) => void; beforeReplace: (why: string) => void },
  ): Promise<{ image: ImageEntry; cached: boolean }>;
}

export interface HostPort {
  info(opts?: { refresh?: boolean }): Promise<HostInfo>;
  resources(): Promise<HostResources>;
}
