import { imageFirstBoot, LodgeError, specFromCreate, VmCreateRequest, type ImageEntry, type VmInfo, type VmSpec } from '@lodge/api';
import type { Duplex } from 'node:stream';
import { assertAllowed } from './state-table.js';
import { parseOrThrow } from './validate.js';
import type { HostPort, ImageCatalog, VmDriver } from '../ports/vm-driver.js';
import { checkCpuLimits } from './spec-update.js';
import type { VmLifecycle } from './vm-lifecycle.js';
import type { VmRecords } from './vm-records.js';

/** Create, list, inspect and delete VMs; console and log access. */
export class VmInventory {
  /** VMs being created right now and their images: two creates of one name cannot both pass the existence check, and an image rm sees them. */
  private readonly creating = new Map<string, string>();

  constructor(
    private readonly d: { records: VmRecords; driver: VmDriver; images: ImageCatalog; lifecycle: VmLifecycle; host: HostPort },
  ) {}

  /** VMs made from the image: recorded ones and those being created. */
  usersOf(image: string): string[] {
    const recorded = this.d.records.list().filter((r) => r.spec.image === image).map((r) => r.name);
    return [...new Set([...recorded, ...this.creatingFrom(image)])];
  }

  /**
   * VMs that need the image's files to stay as they are: those being created (their links are being made) and any
   * made before VMs pinned their image (their disk is an overlay on the image folder's own file).
   */
  dependentsOf(image: string): string[] {
    const unpinned = this.d.records.list().filter((r) => r.spec.image === image && !this.d.driver.hasPinnedImage(r.name)).map((r) => r.name);
    return [...new Set([...unpinned, ...this.creatingFrom(image)])];
  }

  private creatingFrom(image: string): string[] {
    return [...this.creating].filter(([, img]) => img === image).map(([name]) => name);
  }

  list(): VmInfo[] {
    return this.d.records.list().map((r) => this.withMonitor(this.d.records.info(r)));
  }

  get(name: string): VmInfo {
    return this.withMonitor(this.d.records.info(this.d.records.get(name)));
  }

  /** While QEMU runs: whether lodged reaches its QMP socket (another program may hold it). */
  private withMonitor(info: VmInfo): VmInfo {
    const runtime = this.d.lifecycle.runtimeOf(info.name);
    return runtime ? { ...info, monitor: runtime.monitorReachable ? 'connected' : 'unreachable' } : info;
  }

  async create(input: unknown): Promise<VmInfo> {
    const spec = specFromCreate(parseOrThrow(VmCreateRequest, input, 'VM spec'));
    if (this.d.records.find(spec.name) || this.creating.has(spec.name)) {
      throw new LodgeError('already_exists', `VM "${spec.name}" already exists`, { hint: `pick another name, or delete it first: lodge delete ${spec.name}` });
    }
    checkCpuLimits(spec, (await this.d.host.resources()).cpus);
    this.creating.set(spec.name, spec.image);
    try {
      const image = await this.d.images.get(spec.image);
      if (image.kernel === undefined && spec.machine === 'microvm') {
        throw new LodgeError('invalid_argument', `image "${image.name}" has no kernel and boots from its disk, which a microvm VM cannot do`, {
          hint: 'use --machine q35 (or pc), or import the image with --kernel',
        });
      }
      checkFirstBootSupport(spec, image);
      await this.d.driver.createDisk(spec, image);
      const now = new Date().toISOString();
      this.d.records.insert({ name: spec.name, spec, state: 'stopped', createdAt: now, updatedAt: now });
      return this.get(spec.name);
    } finally {
      this.creating.delete(spec.name);
    }
  }

  async delete(name: string, opts: { force: boolean }): Promise<void> {
    const rec = this.d.records.get(name);
    if (opts.force) await this.d.lifecycle.kill(name);
    else assertAllowed('delete', rec.state, name);
    await this.d.driver.removeFiles(name);
    this.d.records.remove(name);
  }

  async console(name: string): Promise<Duplex> {
    const { state } = this.d.records.get(name);
    if (state !== 'running' && state !== 'paused') {
      throw new LodgeError('invalid_state', `VM "${name}" is ${state}: its console is only there while it runs`, { hint: `start it with: lodge start ${name}` });
    }
    return this.d.driver.openConsole(name);
  }

  logs(name: string, opts: { follow: boolean; signal: AbortSignal }): AsyncIterable<Buffer> {
    this.d.records.get(name);
    return this.d.driver.readLog(name, opts);
  }
}

/** First-boot settings need an image that reads the seed; the default user (which the CLI always fills) is simply not made. */
function checkFirstBootSupport(spec: VmSpec, image: ImageEntry): void {
  if (imageFirstBoot(image) !== 'none') return;
  const asked = [spec.hostname !== undefined && 'hostname', ...(['users', 'packages', 'files', 'provision'] as const).filter((k) => spec[k].length > 0)].filter(Boolean);
  if (asked.length === 0) return;
  throw new LodgeError('invalid_argument', `image "${image.name}" has no first-boot step (no cloud-init, no Lodge provisioner), so it cannot apply ${asked.join(', ')}`, {
    hint: 'use an image that has one (lodge create --image debian-12 …), or leave those settings out',
    details: { image: image.name, fields: asked },
  });
}
