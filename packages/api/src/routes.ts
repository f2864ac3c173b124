/** Paths of the REST + WebSocket API, written once for server and client. */
export const API = {
  host: '/v1/host',
  images: '/v1/images',
  image: (name: string) => `/v1/images/${encodeURIComponent(name)}`,
  imageBuild: (name: string) => `/v1/images/${encodeURIComponent(name)}/build`,
  /** GET: manifest, qemu-img facts of the disk and the VMs using it. */
  imageInspect: (name: string) => `/v1/images/${encodeURIComponent(name)}/inspect`,
  vms: '/v1/vms',
  vm: (name: string) => `/v1/vms/${encodeURIComponent(name)}`,
  vmAction: (name: string, action: string) => `/v1/vms/${encodeURIComponent(name)}/${action}`,
  vmConsole: (name: string) => `/v1/vms/${encodeURIComponent(name)}/console`,
  vmLogs: (name: string) => `/v1/vms/${encodeURIComponent(name)}/logs`,
  vmGuest: (name: string) => `/v1/vms/${encodeURIComponent(name)}/guest`,
  vmExec: (name: string) => `/v1/vms/${encodeURIComponent(name)}/exec`,
  vmFiles: (name: string, op: 'get' | 'put', path: string, lend = false) =>
    `/v1/vms/${encodeURIComponent(name)}/files?op=${op}&path=${encodeURIComponent(path)}${lend ? '&lend=1' : ''}`,
  vmBus: (name: string, topic: string) => `/v1/vms/${encodeURIComponent(name)}/bus/${encodeURIComponent(topic)}`,
  vmDisks: (name: string) => `/v1/vms/${encodeURIComponent(name)}/disks`,
  vmDisk: (name: string, disk: string) => `/v1/vms/${encodeURIComponent(name)}/disks/${encodeURIComponent(disk)}`,
  /** Samples of one VM, oldest first; ?since=ISO time, ?limit=N. */
  vmStats: (name: string) => `/v1/vms/${encodeURIComponent(name)}/stats`,
  /** The latest sample of every running VM (lodge top). */
  stats: '/v1/stats',
  /** Prometheus text exposition of the latest samples. */
  metrics: '/v1/metrics',
  operation: (id: string) => `/v1/operations/${encodeURIComponent(id)}`,
  operationWait: (id: string) => `/v1/operations/${encodeURIComponent(id)}/wait`,
  events: '/v1/events',
  ping: '/v1/ping',
} as const;

/** File names inside the data folder that clients also need: the daemon socket, its pid (lent files), its log (auto-start). */
export const SOCKET_FILE = 'lodged.sock';
export const PID_FILE = 'lodged.pid';
export const LOG_FILE = 'lodged.log';
