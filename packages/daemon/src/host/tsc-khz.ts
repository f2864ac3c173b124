import { readFile } from 'node:fs/promises';

/** The host CPU's clock in kHz from /proc/cpuinfo, for microvm's tsc_early_khz. */
export async function readHostKhz(path = '/proc/cpuinfo'): Promise<number | undefined> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(text)?.[1];
  return mhz ? Math.round(Number(mhz) * 1000) : undefined;
}
