import { formatSize, type ImageEntry } from '@lodge/api/lite';

/** "2025-11-25T21:40:12.345Z" → "2025-11-25 21:40 UTC": minutes are enough to tell builds apart. */
export function shortTime(iso: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
  return m ? `${m[1]} ${m[2]} UTC` : iso;
}

/** The `lodge image list` table as text cells. */
export function imageTable(images: readonly ImageEntry[]): { head: string[]; rows: string[][] } {
  return {
    head: ['NAME', 'SIZE', 'KERNEL', 'BUILT'],
    rows: images.map((i) => [i.name, formatSize(i.sizeBytes), i.kernelVersion, shortTime(i.builtAt)]),
  };
}
