import type { Duplex } from 'node:stream';
import type { Accelerator, DiskSpec, HostInfo, ImageDiskFacts, ImageEntry, ImageImportRequest, ImageRecipe, Progress, VmSpec } from '@lodge/api';
import type { HostResources } from './host-resources.js';

/** Why a QEMU process ended, in words for the user. */
export interface ExitInfo {
  reason: string;
}

/** CPU share, quota and pinning of a VM's QEMU, as kept in its spec. */
export interface CpuLimits {
  weight: number;
  /** Percent of one host CPU; undefined = no quota. */
  maxPercent?: number;
  /** Host CPU list ("0-1,3"); undefined = any CPU. */
  pin?: string;
}

/** A spec's CPU limits, as the driver applies them at launch and `lodge set` applies them live. */
export const cpuLimitsOf = (spec: Pick<VmSpec, 'cpuWeight' | 'cpuMax' | 'cpuPin'>): CpuLimits => ({ weight: spec.cpuWeight, maxPercent: spec.cpuMax, pin: spec.cpuPin });

/** What a running VM uses now, read from its cgroup, /proc and QMP. */
export interface RuntimeSample {
  /** Cumulative host CPU time of the VM's cgroup (or QEMU's process where there is none). */
  cpuNs: number;
  rssBytes: number;
  vcpus: number;
  memoryLimitBytes?: number;
  balloonBytes?: number;
  guestMem?: { totalBytes: number; availableBytes: number };
  disks: { name: string; readBytes: number; writeBytes: number; readOps: number; writeOps: number }[];
}

/** A host limit the VM ran into (reported as an event, not a silent kill). */
export interface LimitHit {
  resource: 'memory' | 'cpu' | 'disk';
  message: string;
}

/** I/O limits of one disk; undefined = unlimited. */
export interface DiskThrottle {
  iops?: number;
  bps?: number;
}

/** One running QEMU, owned by its supervisor: the only way core touches a live VM. */
export interface VmRuntime {
  readonly pid: number;
  /** The guest's vsock CID (the host has vhost-vsock); undefined: the virtio-serial port is the only channel. */
  readonly vsockCid?: number;
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
  /** Whether QMP answers now: false while another client holds the socket (calls that need it fail meanwhile). */
  readonly monitorReachable: boolean;

  /** Live: cgroup weight, quota and pinning (or nice where there are no cgroups); on refusal nothing changes. */
  setCpuLimits(limits: CpuLimits): Promise<void>;
  /** Live vCPU hot-add up to the spec's maxCpus; the guest brings the new CPUs online. */
  setVcpus(count: number): Promise<void>;
  /** Live balloon target: the RAM the guest may use, at most the RAM it booted with. */
  setMemory(bytes: number): Promise<void>;
  /** Hot-plugs an extra disk (file already made by the driver). */
  attachDisk(disk: DiskSpec, path: string): Promise<void>;
  detachDisk(name: string): Promise<void>;
  /** Grows a disk live ("root" or an extra disk's name); the guest's file system is grown by core through the agent. */
  resizeDisk(name: string, bytes: number): Promise<void>;
  throttleDisk(name: string, limits: DiskThrottle): Promise<void>;
  /** What this QEMU booted with: the most RAM the balloon can give back, the most vCPUs hot-add can reach. */
  bounds(): Promise<{ memoryBytes: number; maxCpus: number }>;
  sample(): Promise<RuntimeSample>;
  /** Limits the VM ran into, e.g. its cgroup memory limit. */
  onLimit(listener: (hit: LimitHit) => void): () => void;
}

export interface LaunchRequest {
  spec: VmSpec;
  image: ImageEntry;
  accelerator: Accelerator;
  /** Give the VM a vsock device (the host's vhost-vsock probe passed). */
  vsock?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

export interface VmDriver {
  /** Makes the VM's folder, its own links to the image's files, and its disk; on failure leaves nothing behind. */
  createDisk(spec: VmSpec, image: ImageEntry): Promise<void>;
  /** The image as the VM pinned it at create (what it boots); undefined for a VM made before pinning. */
  pinnedImage(name: string): Promise<ImageEntry | undefined>;
  /** Whether the VM has its own links (else its disk is an overlay on the image folder's file, which must then stay). */
  hasPinnedImage(name: string): boolean;
  launch(req: LaunchRequest): Promise<VmRuntime>;
  /** Re-attaches to a QEMU left running by an earlier daemon (pid from the store, else its pid file), or says why it is gone. */
  attach(name: string, pid: number | undefined): Promise<VmRuntime | { gone: string }>;
  removeFiles(name: string): Promise<void>;
  /** Makes disks/<disk>.qcow2 in the VM's folder; returns its path. */
  createExtraDisk(name: string, disk: DiskSpec): Promise<string>;
  removeExtraDisk(name: string, disk: string): Promise<void>;
  /** Offline grow of a stopped VM's disk file ("root" or an extra disk). */
  resizeDiskFile(name: string, disk: string, bytes: number): Promise<void>;
  /** Path, virtual size and the bytes the file takes on the host. */
  diskFile(name: string, disk: string): Promise<{ path: string; sizeBytes: number; allocatedBytes: number }>;
  folderOf(name: string): string;
  openConsole(name: string): Promise<Duplex>;
  readLog(name: string, opts: { follow: boolean; signal: AbortSignal }): AsyncIterable<Buffer>;
}

export interface ImageCatalog {
  get(name: string): Promise<ImageEntry>;
  list(): Promise<ImageEntry[]>;
  build(
    name: string,
    opts: { force: boolean; recipe?: ImageRecipe; signal?: AbortSignal; onProgress: (p: Progress) => void; beforeReplace: (why: string) => void },
  ): Promise<{ image: ImageEntry; cached: boolean }>;
  /** Checks and copies a user's disk in as a new image; on any failure nothing is left in the store. */
  import(request: ImageImportRequest, opts: { signal?: AbortSignal; onProgress: (p: Progress) => void }): Promise<ImageEntry>;
  /** Hides the image, calls confirmUnused (which throws to keep it), then deletes it. */
  remove(name: string, confirmUnused: () => void): Promise<void>;
  diskFacts(image: ImageEntry): Promise<ImageDiskFacts>;
}

export interface HostPort {
  info(opts?: { refresh?: boolean }): Promise<HostInfo>;
  resources(): Promise<HostResources>;
}
