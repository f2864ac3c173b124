import { describe, expect, it } from 'vitest';
import { LodgeError, type ImageEntry, type ImageImportRequest } from '@lodge/api';
import type { ImageCatalog } from '../ports/vm-driver.js';
import { EventBus } from './event-bus.js';
import { ImageService } from './image-service.js';
import { Operations } from './operations.js';

const entry = (name: string): ImageEntry => ({ name, disk: 'disk.qcow2', kernelCmdline: '', sizeBytes: 1, builtAt: '', folder: `/i/${name}` });

/** An in-memory catalog: the seam between core and the image files. */
function fakeCatalog(names: string[]): ImageCatalog & { imported: ImageImportRequest[]; built: unknown[]; release?: () => void } {
  const images = new Map(names.map((n) => [n, entry(n)]));
  const catalog = {
    imported: [] as ImageImportRequest[],
    built: [] as unknown[],
    release: undefined as (() => void) | undefined,
    get: async (name: string) => images.get(name) ?? Promise.reject(new LodgeError('not_found', `no ${name}`)),
    list: async () => [...images.values()],
    build: async (name: string, o: { force: boolean; recipe?: unknown }) => {
      catalog.built.push({ name, force: o.force, recipe: o.recipe });
      return { image: entry(name), cached: false };
    },
    import: async (r: ImageImportRequest) => {
      catalog.imported.push(r);
      await new Promise<void>((resolve) => (catalog.release = resolve));
      images.set(r.name, entry(r.name));
      return entry(r.name);
    },
    remove: async (name: string, confirmUnused: () => void) => {
      if (!images.has(name)) throw new LodgeError('not_found', `no ${name}`);
      confirmUnused();
      images.delete(name);
    },
    diskFacts: async () => ({ format: 'qcow2', virtualSizeBytes: 2 ** 20, actualSizeBytes: 4096 }),
  };
  return catalog;
}

/** `users`: VMs made from each image; `dependents`: those of them that need its files unchanged (default: all). */
function service(names: string[], users: Record<string, string[]> = {}, dependents = users) {
  const catalog = fakeCatalog(names);
  const ops = new Operations(new EventBus({ append: (b) => ({ ...b, id: 1, time: '' }), since: () => [] }));
  return { catalog, ops, images: new ImageService({ catalog, ops, usersOf: (i) => users[i] ?? [], dependentsOf: (i) => dependents[i] ?? [] }) };
}

describe('ImageService', () => {
  it('refuses rm of an image VMs are based on, naming them, and removes a free one', async () => {
    const { images, catalog } = service(['base', 'free'], { base: ['web', 'db'] });
    const err = await images.remove('base').catch((e: LodgeError) => e);
    expect(err).toMatchObject({ code: 'conflict', message: 'image "base" is the base of VM(s) web, db: their disks are overlays on it', hint: 'delete those VMs first: lodge delete web db' });
    await images.remove('free');
    expect((await catalog.list()).map((i) => i.name)).toEqual(['base']);
  });

  it('removes an image whose VMs all pinned its files (they keep their own links), still naming them as users', async () => {
    const { images, catalog } = service(['base'], { base: ['web'] }, {});
    expect((await images.inspect('base')).usedBy).toEqual(['web']);
    await images.remove('base');
    expect(await catalog.list()).toEqual([]);
  });

  it('answers an import of a taken name or a bad request at once, and runs a good one as an operation', async () => {
    const { images, catalog, ops } = service(['base']);
    await expect(images.import({ name: 'base', file: '/x.raw' })).rejects.toMatchObject({ code: 'already_exists' });
    await expect(images.import({ name: 'new', file: 'x.raw' })).rejects.toThrow(/file must be an absolute path/);
    await expect(images.import({ name: 'new', file: '/x.raw', initrd: '/i' })).rejects.toThrow(/initrd and cmdline need a kernel/);
    const op = await images.import({ name: 'new', file: '/x.raw' });
    expect(op).toMatchObject({ kind: 'image.import', target: 'new', status: 'running' });
    await expect(images.import({ name: 'new', file: '/y.raw' })).rejects.toMatchObject({ code: 'conflict' });
    await expect(images.remove('new')).rejects.toMatchObject({ code: 'conflict' });
    await new Promise((r) => setImmediate(r));
    catalog.release?.();
    expect(await ops.wait(op.id, AbortSignal.timeout(1000))).toMatchObject({ status: 'succeeded' });
    expect(catalog.imported).toEqual([{ name: 'new', file: '/x.raw' }]);
  });

  it('inspects: manifest, disk facts and users', async () => {
    const { images } = service(['base'], { base: ['web'] });
    expect(await images.inspect('base')).toEqual({ image: entry('base'), disk: { format: 'qcow2', virtualSizeBytes: 2 ** 20, actualSizeBytes: 4096 }, usedBy: ['web'] });
  });

  it('checks a build request: a recipe given whole is parsed (defaults filled), a bad one refused at once', async () => {
    const { images, catalog, ops } = service([]);
    expect(() => images.build('tools', { recipe: { name: 'tools', packages: ['Bad'] } })).toThrow(/^invalid image build request: recipe.packages.0: a package is a Debian package name/);
    expect(() => images.build('tools', { recipe: { name: 'tools', apt: [] } })).toThrow(/unknown field\(s\) "apt"/);
    expect(() => images.build('tools', { fast: true })).toThrow(/unknown field\(s\) "fast"/);
    const op = images.build('tools', { recipe: { name: 'tools', packages: ['gdb'] } });
    expect((await ops.wait(op.id)).status).toBe('succeeded');
    expect(catalog.built).toEqual([{ name: 'tools', force: false, recipe: { name: 'tools', base: 'debian-12', packages: ['gdb'], boot: 'direct' } }]);
  });
});
