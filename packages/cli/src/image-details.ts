import { formatSize, type ImageDetails } from '@lodge/api/lite';
import type { Pair } from './key-value-lines.js';
import { imageSource, kernelLabel, shortTime } from './image-table.js';

/** `lodge image inspect`: the manifest, qemu-img's view of the base disk, and the VMs based on it. */
export function imageDetails(d: ImageDetails): Pair[] {
  const { image: i, disk } = d;
  return [
    ['name', i.name],
    ['source', imageSource(i)],
    ['description', i.recipe?.description],
    ['packages', i.recipe?.packages === undefined ? undefined : `${i.recipe.packages.join(' ') || '(none)'} (on top of ${i.recipe.base ?? 'the base'}'s)`],
    ['date', shortTime(i.builtAt)],
    ['boot', i.kernel === undefined ? 'from its disk (firmware, then its bootloader)' : 'direct kernel boot'],
    ['kernel', i.kernel === undefined ? undefined : `${i.kernel} (${kernelLabel(i)})`],
    ['initrd', i.initrd],
    ['cmdline', i.kernelCmdline],
    ['disk', `${i.disk}: ${disk.format}, virtual size ${formatSize(disk.virtualSizeBytes)}, ${formatSize(disk.actualSizeBytes)} on disk`],
    ['size', formatSize(i.sizeBytes)],
    ['folder', i.folder],
    ['used by', d.usedBy.length === 0 ? 'no VM' : d.usedBy.join(', ')],
  ];
}
