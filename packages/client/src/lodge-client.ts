import type { WebSocket } from 'ws';
import {
  API,
  type ExecStart,
  type GuestStatus,
  type HostReport,
  type ImageDetails,
  type ImageEntry,
  type ImageBuildRequest,
  type ImageImportRequest,
  type LodgeEventRecord,
  type Operation,
  type Progress,
  type PublishReceipt,
  type StartOptions,
  type StopOptions,
  type VmCreateRequest,
  type VmInfo,
  type VmSample,
  type VmUpdateRequest,
  type VmUpdateResult,
  type DiskAddRequest,
  type DiskInfo,
  type DiskUpdateRequest,
} from '@lodge/api/lite';
import { errorFromBody, httpRequest } from './http-transport.js';
import { EventStream } from './event-stream.js';
import { openWebSocket } from './ws-connect.js';
import { openExec, type ExecOutput, type ExecSession } from './exec-session.js';
import { ExecSockets } from './exec-sockets.js';
import { getFiles, putFiles, type FileSink, type FileSource, type PutEvents } from './file-transfer.js';
import { publish, request, subscribe, type BusListener, type Subscription } from './message-bus.js';
import type { FilesResult } from '@lodge/api/guest';

export interface ClientOptions {
  socketPath: string;
}

/** The typed client of the Lodge API: what the CLI, tests and scripts use. */
export class LodgeClient {
  readonly socketPath: string;

  /** Exec sockets idle between execs (they do not keep the process alive). */
  private readonly execSockets: ExecSockets;

  constructor(opts: ClientOptions) {
    this.socketPath = opts.socketPath;
    this.execSockets = new ExecSockets(opts.socketPath);
  }

  /** Closes the exec sockets kept idle for reuse (they close by themselves after 10 s). */
  close(): void {
    this.execSockets.close();
  }

  async call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const res = await httpRequest(this.socketPath, { method, path, body, signal });
    if (res.status >= 400) throw errorFromBody(res.status, res.body);
    return JSON.parse(res.body.toString('utf8')) as T;
  }

  ping = (): Promise<{ ok: boolean; version: string; pid: number }> => this.call('GET', API.ping);
  host = (opts: { refresh?: boolean } = {}): Promise<HostReport> => this.call('GET', `${API.host}${opts.refresh ? '?refresh=1' : ''}`);
  images = (): Promise<ImageEntry[]> => this.call('GET', API.images);
  image = (name: string): Promise<ImageEntry> => this.call('GET', API.image(name));
  /** A built-in recipe by name, or the recipe given whole (its name must be `name`); follow it with wait(). */
  buildImage = (name: string, req: ImageBuildRequest = {}): Promise<Operation> => this.call('POST', API.imageBuild(name), req);
  /** Starts an import of a user's qcow2 or raw disk (paths absolute, read by the daemon); follow it with wait(). */
  importImage = (req: ImageImportRequest): Promise<Operation> => this.call('POST', API.images, req);
  /** Refused (conflict) while a VM is based on the image. */
  removeImage = (name: string): Promise<{ deleted: string }> => this.call('DELETE', API.image(name));
  inspectImage = (name: string): Promise<ImageDetails> => this.call('GET', API.imageInspect(name));

  list = (): Promise<VmInfo[]> => this.call('GET', API.vms);
  get = (name: string): Promise<VmInfo> => this.call('GET', API.vm(name));
  create = (req: VmCreateRequest): Promise<VmInfo> => this.call('POST', API.vms, req);
  delete = (name: string, opts: { force?: boolean } = {}): Promise<{ deleted: string }> =>
    this.call('DELETE', `${API.vm(name)}${opts.force ? '?force=1' : ''}`);
  start = (name: string, opts: StartOptions = {}): Promise<Operation> => this.call('POST', API.vmAction(name, 'start'), opts);
  stop = (name: string, opts: StopOptions = {}): Promise<Operation> => this.call('POST', API.vmAction(name, 'stop'), opts);
  restart = (name: string): Promise<Operation> => this.call('POST', API.vmAction(name, 'restart'));
  pause = (name: string): Promise<VmInfo> => this.call('POST', API.vmAction(name, 'pause'));
  resume = (name: string): Promise<VmInfo> => this.call('POST', API.vmAction(name, 'resume'));
  /** lodge set: applied live where the VM runs; `result` says what was live and what waits for the next start. */
  update = (name: string, req: VmUpdateRequest): Promise<{ vm: VmInfo; result: VmUpdateResult }> => this.call('PATCH', API.vm(name), req);
  disks = (name: string): Promise<DiskInfo[]> => this.call('GET', API.vmDisks(name));
  addDisk = (name: string, req: DiskAddRequest): Promise<DiskInfo> => this.call('POST', API.vmDisks(name), req);
  updateDisk = (name: string, disk: string, req: DiskUpdateRequest): Promise<{ disk: DiskInfo; notes: string[] }> =>
    this.call('PATCH', API.vmDisk(name, disk), req);
  removeDisk = (name: string, disk: string): Promise<{ deleted: string }> => this.call('DELETE', API.vmDisk(name, disk));
  operation = (id: string): Promise<Operation> => this.call('GET', API.operation(id));

  /** The latest sample of every running VM. */
  stats = (): Promise<VmSample[]> => this.call('GET', API.stats);
  /** One VM's samples, oldest first: from `since` on, at most the newest `limit`. */
  vmStats = (name: string, opts: { since?: Date; limit?: number } = {}): Promise<VmSample[]> => {
    const q = new URLSearchParams();
    if (opts.since) q.set('since', opts.since.toISOString());
    if (opts.limit !== undefined) q.set('limit', String(opts.limit));
    return this.call('GET', `${API.vmStats(name)}${q.size ? `?${q}` : ''}`);
  };
  /** The Prometheus text exposition, as served to scrapers. */
  async metricsText(): Promise<string> {
    const res = await httpRequest(this.socketPath, { method: 'GET', path: API.metrics });
    if (res.status >= 400) throw errorFromBody(res.status, res.body);
    return res.body.toString('utf8');
  }

  /** Waits for an operation to finish, reporting progress; resolves with it whether it succeeded or failed. */
  async wait(op: Operation, opts: { onProgress?: (p: Progress) => void; signal?: AbortSignal } = {}): Promise<Operation> {
    if (op.status !== 'running') return op;
    const events = await this.events();
    try {
      const current = await this.operation(op.id); // it may have finished before we subscribed
      if (current.status !== 'running') return current;
      for await (const ev of events) {
        if (ev.type !== 'operation' || ev.operation.id !== op.id) continue;
        if (ev.operation.progress) opts.onProgress?.(ev.operation.progress);
        if (ev.operation.status !== 'running') return ev.operation;
        if (opts.signal?.aborted) break;
      }
      return await this.operation(op.id);
    } finally {
      events.close();
    }
  }

  /** Live events, optionally for one VM and replaying stored ones after `since`. */
  async events(opts: { vm?: string; since?: number } = {}): Promise<EventStream<LodgeEventRecord>> {
    const q = new URLSearchParams();
    if (opts.vm) q.set('vm', opts.vm);
    if (opts.since !== undefined) q.set('since', String(opts.since));
    const stream = new EventStream<LodgeEventRecord>();
    return stream.bind(await openWebSocket(this.socketPath, `${API.events}${q.size ? `?${q}` : ''}`, (d) => stream.push(d)));
  }

  /** The VM's serial console as a binary WebSocket; everything the guest writes goes to onData, from the first byte. */
  console = (name: string, onData: (data: Buffer) => void): Promise<WebSocket> =>
    openWebSocket(this.socketPath, API.vmConsole(name), onData);

  /** The console log; with follow, keeps streaming until the signal aborts. */
  async logs(name: string, opts: { follow?: boolean; signal?: AbortSignal; onData: (chunk: Buffer) => void }): Promise<void> {
    const res = await httpRequest(this.socketPath, {
      method: 'GET',
      path: `${API.vmLogs(name)}${opts.follow ? '?follow=1' : ''}`,
      signal: opts.signal,
      stream: opts.onData,
    }).catch((err: Error) => {
      if (err.name === 'AbortError') return { status: 200, body: Buffer.alloc(0) };
      throw err;
    });
    if (res.status >= 400) throw errorFromBody(res.status, res.body);
  }

  // ---- the guest: status, processes, files, message bus ----

  /** The guest agent's state and, when it answers, live facts from the guest. */
  guest = (name: string): Promise<GuestStatus> => this.call('GET', API.vmGuest(name));

  /** Runs a process in the guest (no shell); output goes to `io` with back-pressure. */
  exec = (name: string, start: ExecStart, io: ExecOutput): Promise<ExecSession> => openExec(this.execSockets, name, start, io);

  /** Copies a guest file or folder into `sink` (e.g. a FileTreeWriter); resolves once the sink took all of it. */
  getFiles = (name: string, guestPath: string, sink: FileSink): Promise<FilesResult> => getFiles(this.socketPath, name, guestPath, sink);

  /** Copies a file tree (e.g. readFileTree) to `guestPath` in the guest, with cp -r rules. */
  putFiles = (name: string, guestPath: string, source: FileSource, events?: PutEvents): Promise<FilesResult> => putFiles(this.socketPath, name, guestPath, source, events);

  /** Publishes a message on the VM's bus. */
  publish = (name: string, topic: string, body: Buffer | string): Promise<PublishReceipt> => publish(this.socketPath, name, topic, body);

  /** Publishes and waits up to timeoutMs for the first reply; resolves with the reply's body. */
  request = (name: string, topic: string, body: Buffer | string, timeoutMs: number): Promise<Buffer> =>
    request(this.socketPath, name, topic, body, timeoutMs);

  /** Receives the messages published on a topic of the VM's bus until close(). */
  subscribe = (name: string, topic: string, onMessage: BusListener): Promise<Subscription> => subscribe(this.socketPath, name, topic, onMessage);
}
