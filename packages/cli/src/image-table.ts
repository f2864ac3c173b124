import { formatSize, type ImageEntry } from '@lodge/api/lite';

/** "2025-11-25T21:40:12.345Z" → "2025-11-25 21:40 UTC": minutes are enough to tell builds apart. */
export function shortTime(iso: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
  return m ? `${m[1]} ${m[2]} UTC` : iso;
}

/** Where an image came from: its recipe (name, base, hash prefix) or the file it was imported from. */
export function imageSource(i: ImageEntry): string {
  if (i.importedFrom !== undefined) return `imported from ${i.importedFrom}`;
  const name = i.recipe?.name ?? i.name;
  const base = i.recipe?.base === undefined ? '' : ` on ${i.recipe.base}`;
  return i.recipeHash ? `recipe ${name}${base} (${i.recipeHash.slice(0, 12)})` : `recipe ${name}${base}`;
}

/** The kernel column: a disk-booted image has none. */
export function kernelLabel(i: ImageEntry): string {
  if (i.kernel === undefined) return '(boots from disk)';
  return i.kernelVersion ?? '(given kernel)';
}

/** The `lodge image list` table as text cells. */
export function imageTable(images: readonly ImageEntry[]): { head: string[]; rows: string[][] } {
  return {
    head: ['NAME', 'SIZE', 'KERNEL', 'DATE', 'SOURCE'],
    rows: images.map((i) => [i.name, formatSize(i.sizeBytes), kernelLabel(i), shortTime(i.builtAt), imageSource(i)]),
  };
}
