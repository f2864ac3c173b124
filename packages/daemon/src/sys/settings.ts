import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { z } from 'zod';
import { LodgeError } from '@lodge/api';

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
