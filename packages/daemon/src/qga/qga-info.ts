import type { GuestInfo } from '@lodge/api/guest';
import { runChecked } from './guest-process.js';
import { fsInfo, getTime, hostName, networkInterfaces, osInfo, type AgentInfo } from './qga-commands.js';
import type { QgaClient } from './qga-client.js';
import { silentLogger, type QgaLogger } from './qga-logger.js';

export interface InfoReading {
  info: GuestInfo;
  /** What qemu-ga could not tell us (those fields are zero / empty), for the status note. */
  missing: string[];
}

const PROC_FILES = ['/proc/uptime', '/proc/loadavg', '/proc/meminfo'];

/** Fills GuestInfo from qemu-ga's own commands; uptime, load and memory come from /proc through guest-exec when allowed. */
export async function readInfo(client: QgaClient, agent: AgentInfo, log: QgaLogger = silentLogger): Promise<InfoReading> {
  const timeoutMs = client.callTimeoutMs;
  const o = { timeoutMs };
  const missing: string[] = [];
  const has = (cmd: string): boolean => agent.enabled.has(cmd);
  const ask = async <T>(what: string, allowed: boolean, run: () => Promise<T>, fallback: T): Promise<T> => {
    if (!allowed) {
      missing.push(what);
      return fallback;
    }
    try {
      return await run();
    } catch (err) {
      log.debug({ err }, `guest info: ${what} unavailable`);
      missing.push(what); // one failing command (say fsinfo on an odd mount) must not hide the rest
      return fallback;
    }
  };
  // Sequential on purpose: the client runs one command at a time anyway.
  const os = await ask('os', has('guest-get-osinfo'), () => osInfo(client, o), {});
  if (!missing.includes('os') && !os.id && !os.name) missing.push('os release'); // qemu-ga answers, but the guest has no /etc/os-release
  const hostname = await ask('hostname', has('guest-get-host-name'), () => hostName(client, o), '');
  const nics = await ask('addresses', has('guest-network-get-interfaces'), () => networkInterfaces(client, o), []);
  const fss = await ask('disks', has('guest-get-fsinfo'), () => fsInfo(client, o), []);
  const timeNs = await ask('time', has('guest-get-time'), () => getTime(client, o), Date.now() * 1e6);
  const canExec = has('guest-exec') && has('guest-exec-status');
  const proc = await ask('uptime, load and memory', canExec, async () => (await runChecked(client, ['cat', ...PROC_FILES], timeoutMs)).toString('utf8'), '');
  const info: GuestInfo = {
    os: { id: os.id ?? '', name: os.name ?? '', version: os.version ?? os['version-id'] ?? '', prettyName: os['pretty-name'] ?? '' },
    kernel: { release: os['kernel-release'] ?? '', version: os['kernel-version'] ?? '', machine: os.machine ?? '' },
    hostname,
    ...parseProc(proc),
    disks: fss.map((f) => ({ mount: f.mountpoint, fs: f.type, totalBytes: f['total-bytes'] ?? 0, usedBytes: f['used-bytes'] ?? 0 })),
    addresses: nics.filter((n) => n.name !== 'lo').flatMap((n) =>
      (n['ip-addresses'] ?? []).map((a) => ({ iface: n.name, family: a['ip-address-type'], address: a['ip-address'] }))),
    agent: { version: agent.version, pid: 0, node: '' },
    timeMs: Math.round(timeNs / 1e6),
  };
  return { info, missing };
}

/** Parses `cat /proc/uptime /proc/loadavg /proc/meminfo` output (the three files back to back). */
export function parseProc(text: string): Pick<GuestInfo, 'uptimeS' | 'load' | 'memory'> {
  const lines = text.split('\n');
  const uptime = Number(lines[0]?.split(/\s+/)[0]);
  const loads = (lines[1] ?? '').split(/\s+/).slice(0, 3).map(Number);
  const kib = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  };
  const num = (x: number | undefined): number => (x !== undefined && Number.isFinite(x) ? x : 0);
  return {
    uptimeS: num(uptime),
    load: [num(loads[0]), num(loads[1]), num(loads[2])],
    memory: { totalBytes: kib('MemTotal'), availableBytes: kib('MemAvailable') },
  };
}
