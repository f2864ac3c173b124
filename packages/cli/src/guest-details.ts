import { formatSize, type GuestStatus, type VmInfo } from '@lodge/api/lite';
import { keyValueLines, type Pair } from './key-value-lines.js';

/** What VmInfo says of the guest (the daemon adds it while the VM runs); declared here so older contracts still type-check. */
export interface VmGuestSummary {
  state: GuestStatus['state'];
  via?: GuestStatus['via'];
  version?: string;
  readyAt?: string;
  /** The Lodge agent's channel in use. */
  transport?: 'vsock' | 'virtio-serial';
}
export type VmWithGuest = VmInfo & { guest?: VmGuestSummary };

/** "ready via lodge-agent 0.1.0" — the agent in a few words, for `lodge info` and the list's GUEST column. */
export function agentSummary(g: VmGuestSummary, opts: { short?: boolean } = {}): string {
  if (opts.short || g.state !== 'ready') return g.state === 'ready' && g.via === 'qemu-guest-agent' ? 'ready (qga)' : g.state;
  return [g.state, g.via && `via ${g.via}`, g.version, g.transport && `(${g.transport})`].filter(Boolean).join(' ');
}

/** 93784 s → "1d 2h 3m"; under an hour with seconds. */
export function formatUptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const [d, h, m] = [Math.floor(s / 86400), Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60)];
  if (d > 0) return `${d}d ${h}h ${m}m`;
  if (h > 0) return `${h}h ${m}m`;
  return `${m}m ${s % 60}s`;
}

/** The "Guest" section of `lodge info`: the agent, then what the guest says of itself when it answers. */
export function guestDetails(status: GuestStatus): Pair[] {
  const agent = agentSummary(status);
  const since = status.state === 'ready' && status.readyAt ? ` since ${status.readyAt}` : '';
  const i = status.info;
  const pairs: Pair[] = [['agent', `${agent}${since}`]];
  if (i) {
    const used = i.memory.totalBytes - i.memory.availableBytes;
    const addresses = i.addresses.filter((a) => a.iface !== 'lo').map((a) => `${a.address} (${a.iface})`);
    pairs.push(
      ['os', i.os.prettyName || [i.os.name, i.os.version].filter(Boolean).join(' ')],
      ['kernel', `${i.kernel.release} ${i.kernel.machine}`],
      ['hostname', i.hostname],
      ['uptime', formatUptime(i.uptimeS)],
      ['load', i.load.map((l) => l.toFixed(2)).join(' ')],
      ['memory', `${formatSize(used)} used of ${formatSize(i.memory.totalBytes)}`],
      ...i.disks.map((d): Pair => [`disk ${d.mount}`, `${formatSize(d.usedBytes)} used of ${formatSize(d.totalBytes)} (${d.fs})`]),
      ['addresses', addresses.join(', ')],
    );
  }
  pairs.push(['note', status.note]);
  return pairs;
}

/** The section as text: a heading, then its lines indented under it. */
export function guestSection(status: GuestStatus): string {
  return `Guest:\n${keyValueLines(guestDetails(status)).replace(/^/gm, '  ')}`;
}
