// info: what the guest is (os-release, kernel), how it is doing (load, memory, disks) and where it is (addresses).

import { readFileSync, statfsSync } from 'node:fs';
import os from 'node:os';
import type { GuestInfo, Stream } from '@lodge/api/guest';
import { AGENT_VERSION } from './version.js';

/** Filesystems that hold files someone put there (not proc, sysfs, tmpfs, cgroup...). */
const REAL_FS = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'vfat', 'exfat', 'f2fs', 'zfs', '9p', 'virtiofs', 'fuseblk', 'overlay', 'squashfs', 'iso9660', 'ntfs', 'ntfs3', 'erofs']);

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function osRelease(): GuestInfo['os'] {
  const values: Record<string, string> = {};
  const text = readText('/etc/os-release') || readText('/usr/lib/os-release');
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) values[m[1] as string] = (m[2] as string).replace(/^(["'])(.*)\1$/, '$2');
  }
  const id = values.ID ?? 'linux';
  const name = values.NAME ?? 'Linux';
  return { id, name, version: values.VERSION_ID ?? '', prettyName: values.PRETTY_NAME ?? name };
}

function memory(): GuestInfo['memory'] {
  const text = readText('/proc/meminfo');
  const kib = (key: string): number | undefined => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  return { totalBytes: kib('MemTotal') ?? os.totalmem(), availableBytes: kib('MemAvailable') ?? os.freemem() };
}

/** Unescapes /proc/mounts octal escapes (a space is \040). */
function unescapeMount(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function disks(): GuestInfo['disks'] {
  const out: GuestInfo['disks'] = [];
  const seen = new Set<string>();
  for (const line of readText('/proc/mounts').split('\n')) {
    const [, mountRaw, fs] = line.split(' ');
    if (!mountRaw || !fs || !REAL_FS.has(fs)) continue;
    const mount = unescapeMount(mountRaw);
    if (seen.has(mount)) continue;
    seen.add(mount);
    try {
      // statfsSync needs Node 18.15+ (Debian 12 ships 18.19).
      const s = statfsSync(mount);
      out.push({ mount, fs, totalBytes: s.blocks * s.bsize, usedBytes: (s.blocks - s.bfree) * s.bsize });
    } catch {
      // unmounted meanwhile or not permitted
    }
  }
  return out;
}

function addresses(): GuestInfo['addresses'] {
  const out: GuestInfo['addresses'] = [];
  for (const [iface, list] of Object.entries(os.networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      const family = a.family === 'IPv4' || (a.family as unknown) === 4 ? 'ipv4' : 'ipv6';
      out.push({ iface, family, address: a.address });
    }
  }
  return out;
}

/** Sums /proc/net/dev over every interface but loopback: "  eth0: rxBytes packets ... (8 fields) txBytes ...". */
export function netTotals(text: string): GuestInfo['net'] {
  let rxBytes = 0;
  let txBytes = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    const m = /^\s*([^\s:]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    const fields = (m[2] as string).trim().split(/\s+/).map(Number);
    if (fields.length < 9) continue;
    rxBytes += fields[0] as number;
    txBytes += fields[8] as number;
    seen = true;
  }
  return seen ? { rxBytes, txBytes } : undefined;
}

export function collectInfo(): GuestInfo {
  const [l1 = 0, l5 = 0, l15 = 0] = os.loadavg();
  return {
    os: osRelease(),
    kernel: { release: os.release(), version: os.version(), machine: os.machine() },
    hostname: os.hostname(),
    uptimeS: os.uptime(),
    load: [l1, l5, l15],
    memory: memory(),
    disks: disks(),
    addresses: addresses(),
    agent: { version: AGENT_VERSION, pid: process.pid, node: process.version },
    timeMs: Date.now(),
    net: netTotals(readText('/proc/net/dev')),
  };
}

export function runInfo(stream: Stream): void {
  stream.finish(collectInfo());
}
