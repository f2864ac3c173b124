import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from './flag-values.js';
import { buildWithProgress, wasCacheHit } from './image-builder.js';
import { imageDetails } from './image-details.js';
import { keyValueLines } from './key-value-lines.js';
import { followOperation, operationError } from './operation-progress.js';
import { imageTable } from './image-table.js';
import type { Session } from './session.js';
import { renderTable } from './text-table.js';

/** `lodge image list|build|import|rm|inspect`: the bases VMs boot from. */
export function registerImageCommands(program: Command, session: Session): void {
  const image = program.command('image').description('list, build, import, remove and inspect images');

  image
    .command('list')
    .alias('ls')
    .description('list built images')
    .option('--json', 'print the images as JSON')
    .action(async () => {
      const images = await (await session.connect()).images();
      await session.emit(images, () => {
        if (images.length === 0) return 'No images built yet; build one with: lodge image build micro';
        const { head, rows } = imageTable(images);
        return renderTable(head, rows);
      });
    });

  image
    .command('build')
    .description('build an image from its recipe (a cache hit when already built from the same recipe)')
    .argument('[name]', 'a built-in recipe: micro, debian-12, debian-12-dev, debian-12-grub (with --recipe: the name in the file)')
    .option('--recipe <file>', 'build the YAML recipe in this file (name, description, base: debian-12, packages)')
    .option('--force', 'rebuild even when the recipe has not changed')
    .option('--json', 'print the finished operation as JSON')
    .action(async (given: string | undefined, flags: { force?: boolean; recipe?: string }) => {
      const { readRecipeFile } = await import('./recipe-file.js'); // loads zod and yaml only for this command
      const recipe = flags.recipe === undefined ? undefined : await readRecipeFile(flags.recipe);
      const name = recipe?.name ?? given;
      if (name === undefined) throw new UsageError('name an image to build, or give a recipe file', 'e.g. lodge image build debian-12, or lodge image build --recipe my-image.yaml');
      if (recipe && given !== undefined && given !== recipe.name) throw new UsageError(`the recipe in ${flags.recipe ?? ''} is named "${recipe.name}", not "${given}"`, `leave the name out: lodge image build --recipe ${flags.recipe ?? ''}`);
      const client = await session.connect();
      const op = await buildWithProgress(client, session, name, { force: Boolean(flags.force), recipe });
      await session.emit(op, () => (wasCacheHit(op) ? `Image ${name} is up to date (cache hit)` : `Built image ${name}`));
    });

  image
    .command('import')
    .description("copy a qcow2 or raw disk in as an image (checked with qemu-img; a backing file is refused); without --kernel it boots from its own bootloader")
    .argument('<name>', 'name of the new image')
    .argument('<file>', 'the qcow2 or raw disk image')
    .option('--kernel <file>', 'a kernel to boot directly (copied in)')
    .option('--initrd <file>', 'its initrd (copied in)')
    .option('--cmdline <text>', 'its kernel command line, e.g. "console=ttyS0 root=/dev/vda1"')
    .option('--json', 'print the finished operation as JSON')
    .action(async (name: string, file: string, flags: { kernel?: string; initrd?: string; cmdline?: string }) => {
      const client = await session.connect();
      const abs = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(p));
      const op = await client.importImage({ name, file: resolve(file), kernel: abs(flags.kernel), initrd: abs(flags.initrd), cmdline: flags.cmdline });
      const finished = await followOperation(client, op, { label: `image ${name}`, quiet: session.json });
      if (finished.status === 'failed') throw operationError(finished);
      await session.emit(finished, () => `Imported image ${name} from ${resolve(file)}`);
    });

  image
    .command('rm')
    .description('remove an image (VMs made from it keep their own links to its files)')
    .argument('<name>', 'image name')
    .option('--json', 'print the result as JSON')
    .action(async (name: string) => {
      const result = await (await session.connect()).removeImage(name);
      await session.emit(result, () => `Removed image ${name}`);
    });

  image
    .command('inspect')
    .description("show an image's manifest, its disk as qemu-img sees it, and the VMs made from it")
    .argument('<name>', 'image name')
    .option('--json', 'print the details as JSON')
    .action(async (name: string) => {
      const details = await (await session.connect()).inspectImage(name);
      await session.emit(details, () => keyValueLines(imageDetails(details)));
    });
}
