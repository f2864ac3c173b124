// Entry of `lodge-guest provision` (loaded lazily by guest-cli.ts): provisions this guest, exit 0 when ok.

import { PROVISION_PROGRESS_FILE } from '@lodge/api/guest';
import { NodeSystem } from './node-system.js';
import { ProgressFile } from './progress-file.js';
import { provision } from './provisioner.js';

export async function provisionMain(): Promise<number> {
  const progress = new ProgressFile(PROVISION_PROGRESS_FILE, (line) => process.stdout.write(`${line}\n`));
  return (await provision(new NodeSystem('/'), progress)) ? 0 : 1;
}
