import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CIDATA_FILES, CIDATA_LABEL, CLOUD_CONFIG_HEADER } from '@lodge/api/guest';
import { runCommand } from '../images/host-command.js';
import type { SeedContent } from './cloud-config.js';

/** The two NoCloud files as text: JSON is YAML, so cloud-init reads them as Lodge's provisioner does. */
export function seedFiles(seed: SeedContent): Record<string, string> {
  return {
    [CIDATA_FILES.metaData]: `${JSON.stringify(seed.metaData, null, 1)}\n`,
    [CIDATA_FILES.userData]: `${CLOUD_CONFIG_HEADER}\n${JSON.stringify(seed.userData, null, 1)}\n`,
  };
}

/**
 * Writes the seed as an ISO 9660 image labelled "cidata" (Joliet + Rock Ridge, as cloud-init's NoCloud and
 * Lima's cidata.iso): built by xorriso in a temp folder beside `path` (no root, no loop mount), then renamed in.
 */
export async function writeSeedDisk(seed: SeedContent, path: string, signal?: AbortSignal): Promise<void> {
  const tmp = await mkdtemp(join(dirname(path), '.cidata-'));
  try {
    const dir = join(tmp, 'files');
    await mkdir(dir);
    for (const [name, text] of Object.entries(seedFiles(seed))) await writeFile(join(dir, name), text, { mode: 0o644 });
    const iso = join(tmp, 'cidata.iso');
    await runCommand('xorriso', ['-as', 'mkisofs', '-quiet', '-volid', CIDATA_LABEL, '-joliet', '-rock', '-output', iso, dir], { signal });
    await chmod(iso, 0o644); // QEMU may run as another user than lodged
    await rename(iso, path);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
