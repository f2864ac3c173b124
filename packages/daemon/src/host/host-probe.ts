import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostInfo } from '@lodge/api';
import { DATA_FILES } from '../sys/data-folder.js';
import { probeAccelerator } from './accelerator-probe.js';
import { probeCgroups } from './cgroup-probe.js';
import { readCpuInfo, readDiskSpace } from './live-resources.js';
import { readMemInfo } from './meminfo.js';
import { binaryIdentity, readBootId, readProbeCache, writeProbeCache, type CachedProbe, type ProbeKey } from './probe-cache.js';
import { locateQemu, type QemuBinaries } from './qemu-binaries.js';
import { readQemuVersion, type QemuVersion } from './qemu-version.js';
import { SingleFlight } from './single-flight.js';

/** Where the probe looks; tests point these at fakes. */
export interface HostProbePaths {
  bootId?: string;
  meminfo?: string;
  cgroupRoot?: string;
  mounts?: string;
  kvmDevice?: string;
}

export interface HostProbeOptions {
  dataDir: string;
  /** Ignore the cached probe and run it again. */
  refresh?: boolean;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  paths?: HostProbePaths;
  kvmTimeoutMs?: number;
}

/** One probe per cache file and key at a time, shared by concurrent callers. */
const inFlight = new SingleFlight<CachedProbe>();

/** Live memory, disk and CPU every call; accelerator, cgroups and QEMU version once per host boot and QEMU binary. */
export async function probeHost(opts: HostProbeOptions): Promise<HostInfo> {
  const paths = opts.paths ?? {};
  await mkdir(opts.dataDir, { recursive: true });
  const [qemu, bootId] = await Promise.all([locateQemu({ env: opts.env }), readBootId(paths.bootId)]);
  const key: ProbeKey = { bootId, qemuSystem: await binaryIdentity(qemu.system) };
  const cacheFile = join(opts.dataDir, DATA_FILES.hostProbe);
  const flightKey = `${cacheFile}\n${key.bootId}\n${key.qemuSystem}`;
  const work = (signal: AbortSignal): Promise<CachedProbe> => cachedOrProbe({ ...opts, paths, cacheFile, key, qemu, signal });
  const probe = await inFlight.run(flightKey, work, opts.signal);
  const [memory, disk] = await Promise.all([readMemInfo(paths.meminfo), readDiskSpace(opts.dataDir)]);
  const notes = [qemu.note, probe.qemuVersionNote].filter((n) => n !== undefined);
  return {
    cpus: readCpuInfo(),
    memory,
    disk,
    qemu: { system: qemu.system, img: qemu.img, version: probe.qemuVersion, note: notes.length > 0 ? notes.join('; ') : undefined },
    cgroup: { ...probe.cgroup, mode: probe.cgroup.writable && probe.cgroup.version !== 'none' ? 'cgroup' : 'nice' },
    accelerator: probe.accelerator,
    acceleratorNote: probe.acceleratorNote,
    probedAt: probe.probedAt,
    bootId,
  };
}

interface ProbeRun extends HostProbeOptions {
  paths: HostProbePaths;
  cacheFile: string;
  key: ProbeKey;
  qemu: QemuBinaries;
  signal: AbortSignal;
}

async function cachedOrProbe(run: ProbeRun): Promise<CachedProbe> {
  const cached = run.refresh ? undefined : await readProbeCache(run.cacheFile, run.key);
  if (cached !== undefined) return cached;
  const { system, img } = run.qemu;
  const versionOf = system ?? img;
  const [version, cgroup, accel] = await Promise.all([
    versionOf === undefined ? ({} as QemuVersion) : readQemuVersion(versionOf, run.signal),
    probeCgroups(run.paths.cgroupRoot, run.paths.mounts),
    system === undefined
      ? { accelerator: 'tcg' as const, note: 'qemu-system-x86_64 not found, so KVM could not be probed; using TCG' }
      : probeAccelerator({ qemuSystem: system, timeoutMs: run.kvmTimeoutMs, signal: run.signal, kvmDevice: run.paths.kvmDevice }),
  ]);
  const entry: CachedProbe = {
    schema: 1,
    key: run.key,
    probedAt: new Date().toISOString(),
    qemuVersion: version.version,
    qemuVersionNote: version.note,
    cgroup,
    accelerator: accel.accelerator,
    acceleratorNote: accel.note,
  };
  await writeProbeCache(run.cacheFile, entry);
  return entry;
}
