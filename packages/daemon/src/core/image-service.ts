import { ImageBuildRequest, ImageImportRequest, ImageName, LodgeError, type ImageDetails, type ImageEntry, type Operation } from '@lodge/api';
import type { Operations } from './operations.js';
import { parseOrThrow } from './validate.js';
import type { ImageCatalog } from '../ports/vm-driver.js';

/** Image listing, builds, imports and removal; one build or import per image at a time. */
export class ImageService {
  private readonly building = new Set<string>();

  /** usersOf: VMs made from an image (shown); dependentsOf: those that need its files unchanged (see VmInventory). */
  constructor(private readonly d: { catalog: ImageCatalog; ops: Operations; usersOf: (image: string) => string[]; dependentsOf: (image: string) => string[] }) {}

  list(): Promise<ImageEntry[]> {
    return this.d.catalog.list();
  }

  /** VMs pin their image's files at create; only older VMs' disks are overlays on the image's own file. */
  private refuseReplacing(name: string, why: string): void {
    const users = this.d.dependentsOf(name);
    if (users.length === 0) return;
    throw new LodgeError('conflict', `image "${name}" needs rebuilding (${why}), but it is the base of VM(s) ${users.join(', ')} and rebuilding would corrupt their disks`, {
      hint: `delete those VMs first: lodge delete ${users.join(' ')}`,
      details: { vms: users },
    });
  }

  get(name: string): Promise<ImageEntry> {
    return this.d.catalog.get(parseOrThrow(ImageName, name, 'image name'));
  }

  async inspect(name: string): Promise<ImageDetails> {
    const image = await this.get(name);
    return { image, disk: await this.d.catalog.diskFacts(image), usedBy: this.d.usersOf(image.name) };
  }

  private claim(name: string, busy: string): void {
    if (this.building.has(name)) throw new LodgeError('conflict', `image "${name}" is ${busy}`, { hint: 'wait for it to finish; lodge image list shows it when done' });
    this.building.add(name);
  }

  /** A name already taken answers at once; the file's checks and the copy run as an operation. */
  async import(input: unknown): Promise<Operation> {
    const request = parseOrThrow(ImageImportRequest, input, 'image import');
    const exists = await this.d.catalog.get(request.name).then(() => true, () => false);
    if (exists) throw new LodgeError('already_exists', `image "${request.name}" already exists`, { hint: `pick another name, or remove it first: lodge image rm ${request.name}` });
    this.claim(request.name, 'already being built or imported');
    return this.d.ops.run('image.import', request.name, async (ctx) => {
      try {
        await this.d.catalog.import(request, { onProgress: (p) => ctx.progress(p) });
      } finally {
        this.building.delete(request.name);
      }
    });
  }

  /** VMs made from it keep their own links to its files; refused only for older VMs whose disks are overlays on it. */
  async remove(name: string): Promise<void> {
    parseOrThrow(ImageName, name, 'image name');
    this.claim(name, 'being built or imported');
    try {
      await this.d.catalog.remove(name, () => {
        const users = this.d.dependentsOf(name);
        if (users.length === 0) return;
        throw new LodgeError('conflict', `image "${name}" is the base of VM(s) ${users.join(', ')}: their disks are overlays on it`, {
          hint: `delete those VMs first: lodge delete ${users.join(' ')}`,
          details: { vms: users },
        });
      });
    } finally {
      this.building.delete(name);
    }
  }

  /** A built-in recipe by name, or the recipe given whole in the request (checked again here). */
  build(name: string, input: unknown): Operation {
    parseOrThrow(ImageName, name, 'image name');
    const { force, recipe } = parseOrThrow(ImageBuildRequest, input, 'image build request');
    if (force) this.refuseReplacing(name, 'a forced rebuild');
    this.claim(name, 'already being built');
    return this.d.ops.run('image.build', name, async (ctx) => {
      try {
        const { cached } = await this.d.catalog.build(name, {
          force,
          recipe,
          onProgress: (p) => ctx.progress(p),
          beforeReplace: (why) => this.refuseReplacing(name, why),
        });
        ctx.progress({ step: cached ? 'already built (cache hit)' : 'built', percent: 100 });
      } finally {
        this.building.delete(name);
      }
    });
  }
}
