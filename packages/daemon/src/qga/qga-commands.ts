import type { QgaCallOptions, QgaClient } from './qga-client.js';
import { qgaErrors } from './qga-errors.js';

// One typed function per qemu-ga command we use; shapes from the QGA reference (qemu-ga-ref), checked lightly.

export interface AgentInfo {
  version: string;
  /** Commands qemu-ga allows (not blocked by --block-rpcs / allowed by --allow-rpcs). */
  enabled: Set<string>;
}
export interface ExecStatus {
  exited: boolean;
  exitcode?: number;
  signal?: number;
  'out-data'?: string;
  'err-data'?: string;
  'out-truncated'?: boolean;
  'err-truncated'?: boolean;
}
export interface OsInfo {
  'kernel-release'?: string;
  'kernel-version'?: string;
  machine?: string;
  id?: string;
  name?: string;
  'pretty-name'?: string;
  version?: string;
  'version-id'?: string;
}
export interface NetworkInterface {
  name: string;
  'ip-addresses'?: { 'ip-address-type': 'ipv4' | 'ipv6'; 'ip-address': string; prefix: number }[];
}
export interface FsInfo {
  name: string;
  mountpoint: string;
  type: string;
  'used-bytes'?: number;
  'total-bytes'?: number;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function expect<T>(command: string, value: unknown, ok: (v: unknown) => boolean, what: string): T {
  if (!ok(value)) throw qgaErrors.badReply(command, `something other than ${what}: ${JSON.stringify(value)?.slice(0, 80)}`);
  return value as T;
}
const isInt = (v: unknown): v is number => Number.isInteger(v);

export const ping = (c: QgaClient, o?: QgaCallOptions): Promise<unknown> => c.execute('guest-ping', undefined, o);

export async function agentInfo(c: QgaClient, o?: QgaCallOptions): Promise<AgentInfo> {
  const r = expect<Json>('guest-info', await c.execute('guest-info', undefined, o), (v) => isObject(v) && typeof v.version === 'string', 'an info object');
  const list = Array.isArray(r.supported_commands) ? r.supported_commands : [];
  const enabled = new Set(list.filter((x): x is Json => isObject(x) && x.enabled === true && typeof x.name === 'string').map((x) => x.name as string));
  return { version: r.version as string, enabled };
}

export async function execStart(c: QgaClient, args: { path: string; arg: string[]; env?: string[]; inputData?: string }, o?: QgaCallOptions): Promise<number> {
  const body: Json = { path: args.path, arg: args.arg, 'capture-output': true };
  if (args.env) body.env = args.env;
  if (args.inputData !== undefined) body['input-data'] = args.inputData;
  const r = await c.execute('guest-exec', body, o);
  return expect<Json>('guest-exec', r, (v) => isObject(v) && isInt(v.pid), '{pid}').pid as number;
}

export async function execStatus(c: QgaClient, pid: number, o?: QgaCallOptions): Promise<ExecStatus> {
  const r = await c.execute('guest-exec-status', { pid }, o);
  return expect<ExecStatus>('guest-exec-status', r, (v) => isObject(v) && typeof v.exited === 'boolean', '{exited}');
}

export async function fileOpen(c: QgaClient, path: string, mode: 'r' | 'w', o?: QgaCallOptions): Promise<number> {
  return expect<number>('guest-file-open', await c.execute('guest-file-open', { path, mode }, o), isInt, 'a handle');
}

export async function fileRead(c: QgaClient, handle: number, count: number, o?: QgaCallOptions): Promise<{ data: Buffer; eof: boolean }> {
  const r = await c.execute('guest-file-read', { handle, count }, o);
  const ok = expect<Json>('guest-file-read', r, (v) => isObject(v) && typeof v['buf-b64'] === 'string' && typeof v.eof === 'boolean', '{buf-b64, eof}');
  return { data: Buffer.from(ok['buf-b64'] as string, 'base64'), eof: ok.eof as boolean };
}

export async function fileWrite(c: QgaClient, handle: number, data: Buffer, o?: QgaCallOptions): Promise<number> {
  const r = await c.execute('guest-file-write', { handle, 'buf-b64': data.toString('base64'), count: data.length }, o);
  return expect<Json>('guest-file-write', r, (v) => isObject(v) && isInt(v.count), '{count}').count as number;
}

/** Returns the new position; seeking to the end is how we learn a file's size without guest-exec. */
export async function fileSeek(c: QgaClient, handle: number, offset: number, whence: 'set' | 'end', o?: QgaCallOptions): Promise<number> {
  const r = await c.execute('guest-file-seek', { handle, offset, whence }, o);
  return expect<Json>('guest-file-seek', r, (v) => isObject(v) && isInt(v.position), '{position}').position as number;
}

export const fileClose = (c: QgaClient, handle: number, o?: QgaCallOptions): Promise<unknown> =>
  c.execute('guest-file-close', { handle }, o);

export async function osInfo(c: QgaClient, o?: QgaCallOptions): Promise<OsInfo> {
  return expect<OsInfo>('guest-get-osinfo', await c.execute('guest-get-osinfo', undefined, o), isObject, 'an object');
}

export async function hostName(c: QgaClient, o?: QgaCallOptions): Promise<string> {
  const r = await c.execute('guest-get-host-name', undefined, o);
  return expect<Json>('guest-get-host-name', r, (v) => isObject(v) && typeof v['host-name'] === 'string', '{host-name}')['host-name'] as string;
}

export async function networkInterfaces(c: QgaClient, o?: QgaCallOptions): Promise<NetworkInterface[]> {
  const r = await c.execute('guest-network-get-interfaces', undefined, o);
  return expect<NetworkInterface[]>('guest-network-get-interfaces', r, (v) => Array.isArray(v) && v.every((x) => isObject(x) && typeof x.name === 'string'), 'a list');
}

export async function fsInfo(c: QgaClient, o?: QgaCallOptions): Promise<FsInfo[]> {
  const r = await c.execute('guest-get-fsinfo', undefined, o);
  return expect<FsInfo[]>('guest-get-fsinfo', r, (v) => Array.isArray(v) && v.every((x) => isObject(x) && typeof x.mountpoint === 'string'), 'a list');
}

/** Guest wall clock in nanoseconds since the epoch. */
export async function getTime(c: QgaClient, o?: QgaCallOptions): Promise<number> {
  return expect<number>('guest-get-time', await c.execute('guest-get-time', undefined, o), isInt, 'nanoseconds');
}

export const setTime = (c: QgaClient, ns: number, o?: QgaCallOptions): Promise<unknown> =>
  c.execute('guest-set-time', { time: Math.round(ns) }, o);

/** qemu-ga does not reply when shutdown succeeds: the caller treats a timeout as done. */
export const shutdown = (c: QgaClient, mode: 'powerdown' | 'reboot', o?: QgaCallOptions): Promise<unknown> =>
  c.execute('guest-shutdown', { mode }, o);
