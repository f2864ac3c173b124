/** Zod-free durations for settings and flags: "90", "90s", "10m", "24h", "7d" → seconds. */

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Seconds, or a message saying what is wrong. */
export function parseDuration(value: string | number): number | string {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : `${value} is not a duration`;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$/.exec(value);
  if (!m) return `"${value}" is not a duration (write e.g. "90s", "10m", "24h" or "7d")`;
  return Number(m[1]) * (UNIT_SECONDS[m[2] || 's'] as number);
}
