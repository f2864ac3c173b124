import { ImageName, LodgeError, type ImageEntry, type Operation } from '@lodge/api';
import type { Operations } from './operations.js';
import { parseOrThrow } from './validate.js';
import type { ImageCatalog } from '../ports/vm-driver.js';

/** Image listing and builds; one build per image at a time. */
export class ImageService {
  private readonly building = new Set<string>();

  constructor(private readonly d: { catalog: ImageCatalog; ops: Operations; usersOf: (image: string) => string[] }) {}

  list(): Promise<ImageEntry[]> {
    return this.d.catalog.list();
  }

  /** VM disks are overlays on the image's base file: replacing it under them would corrupt them. */
  private refuseReplacing(name: string, why: string): void {
    const users = this.d.usersOf(name);
    if (users.length === 0) return;
    throw new LodgeError('conflict', `image "${name}" needs rebuilding (${why}), but it is the base of VM(s) ${users.join(', ')} and rebuilding would corrupt their disks`, {
      hint: `delete those VMs first: lodge delete ${users.join(' ')}`,
      details: { vms: users },
    });
  }

  get(name: string): Promise<ImageEntry> {
    return this.d.catalog.get(parseOrThrow(ImageName, name, 'image name'));
  }

  build(name: string, opts: { force: boolean }): Operation {
    parseOrThrow(ImageName, name, 'image name');
    if (opts.force) this.refuseReplacing(name, 'a forced rebuild');
    if (this.building.has(name)) {
      throw new LodgeError('conflict', `image "${name}" is already being built`, { hint: 'wait for that build; lodge image list shows it when done' });
    }
    this.building.add(name);
    return this.d.ops.run('image.build', name, async (ctx) => {
      try {
        const { cached } = await this.d.catalog.build(name, {
          force: opts.force,
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
