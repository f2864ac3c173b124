export type Pair = readonly [key: string, value: string | undefined];

/** "key:   value" lines with the values aligned; pairs without a value are left out. */
export function keyValueLines(pairs: readonly Pair[]): string {
  const shown = pairs.filter((p): p is readonly [string, string] => p[1] !== undefined && p[1] !== '');
  const width = Math.max(0, ...shown.map(([k]) => k.length + 1));
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${v}`).join('\n');
}
