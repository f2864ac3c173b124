import type { Command } from 'commander';
import { buildWithProgress, wasCacheHit } from './image-builder.js';
import { imageTable } from './image-table.js';
import type { Session } from './session.js';
import { renderTable } from './text-table.js';

/** `lodge image list|build`: the bases VMs boot from. */
export function registerImageCommands(program: Command, session: Session): void {
  const image = program.command('image').description('list and build images');

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
    .argument('<name>', 'image name, e.g. micro')
    .option('--force', 'rebuild even when the recipe has not changed')
    .option('--json', 'print the finished operation as JSON')
    .action(async (name: string, flags: { force?: boolean }) => {
      const client = await session.connect();
      const op = await buildWithProgress(client, session, name, { force: Boolean(flags.force) });
      await session.emit(op, () => (wasCacheHit(op) ? `Image ${name} is up to date (cache hit)` : `Built image ${name}`));
    });
}
