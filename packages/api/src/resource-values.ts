/** Zod-free parsing of the resource flags and fields: CPU lists, percentages, priority presets. */

/** `--cpu-priority` presets as cgroup v2 weights (100 is the kernel's default, as for every other process). */
export const CPU_PRIORITIES = { low: 25, normal: 100, high: 400 } as const;

export const CPU_WEIGHT_RANGE = { min: 1, max: 10_000 } as const;
/** 20 characters at most: the name is the virtio-blk serial the guest finds the disk by, and that holds 20 bytes. */
export const DISK_NAME_PATTERN = /^[a-z][a-z0-9-]{0,19}$/;

/** "0-1,3" → [0, 1, 3] sorted and unique, or a message saying what is wrong. */
export function parseCpuList(text: string): number[] | string {
  const cpus = new Set<number>();
  if (text.trim() === '') return 'a CPU list names at least one CPU, e.g. "0" or "0-1,3"';
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) return `"${part}" is not a CPU number or range (write e.g. "0-1,3")`;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) return `the range "${part.trim()}" runs backwards`;
    if (to > 4095) return `CPU ${to} is beyond any host`;
    for (let c = from; c <= to; c++) cpus.add(c);
  }
  return [...cpus].sort((a, b) => a - b);
}

/** [0, 1, 3] → "0-1,3", the kernel's own form. */
export function formatCpuList(cpus: readonly number[]): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] as number) + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** "150%", "150" or 150 → 150 (percent of one host CPU); "1.5" alone is ambiguous and refused. */
export function parsePercent(value: string | number): number | string {
  if (typeof value === 'number') return Number.isFinite(value) ? value : 'not a number';
  const m = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(value);
  if (!m) return `"${value}" is not a percentage (write e.g. "50%" or "150%", in host CPUs)`;
  return Number(m[1]);
}
