import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { z } from 'zod';
import { LodgeError, parseDuration } from '@lodge/api';

/** "24h", "7d" or seconds → seconds; at least 10 s (tests), at most a year. */
const Retention = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const s = parseDuration(v);
  if (typeof s === 'string') ctx.addIssue({ code: 'custom', message: s });
  else if (s < 10 || s > 366 * 86_400) ctx.addIssue({ code: 'custom', message: `retention ${v} is out of range (10s to 366d)` });
  return typeof s === 'number' ? s : 0;
});

/** config.yaml in the data folder; every field optional, unknown fields refused. */
export const Settings = z
  .object({
    overcommit: z
      .object({
        memory: z.number().positive().max(100).default(1.0),
        cpu: z.number().positive().max(100).default(4),
      })
      .strict()
      .default({ memory: 1.0, cpu: 4 }),
    /** Seconds a graceful stop waits for the guest after ACPI powerdown. */
    stopTimeout: z.number().min(0).max(3600).default(30),
    /** Sampling of running VMs: every `interval` seconds (0 = off), kept for `retention` ("24h", "7d", or seconds). */
    metrics: z
      .object({
        interval: z.number().min(0).max(3600).refine((n) => n === 0 || n >= 0.5, 'interval is 0 (off) or at least 0.5 s').default(5),
        retention: Retention.default(86_400),
        /** Seconds between asks of the guest agent for its memory and network counters (0 = never). */
        guestInterval: z.number().min(0).max(3600).default(30),
      })
      .strict()
      .default({ interval: 5, retention: 86_400, guestInterval: 30 }),
  })
  .strict();
export type Settings = z.infer<typeof Settings>;

export async function loadSettings(path: string): Promise<Settings> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Settings.parse({});
    throw err;
  }
  const parsed = Settings.safeParse(parse(text) ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new LodgeError('invalid_argument', `${path} is not valid: ${issues}`, { hint: 'fix or remove the file, then restart lodged' });
  }
  return parsed.data;
}
