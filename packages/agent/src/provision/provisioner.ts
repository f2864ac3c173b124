// lodge-guest provision: the seed's work in cloud-init's order, each step reported to the progress file;
// it stops at the first failure and always ends with a done line.

import { PROVISION_PROGRESS_FILE, type CloudMetaData, type LodgeCloudConfig } from '@lodge/api/guest';
import { writeFiles } from './file-step.js';
import { at, type GuestSystem } from './guest-system.js';
import { setHostname } from './hostname-step.js';
import { InstanceMarkers } from './instance-markers.js';
import { installPackages } from './package-step.js';
import { ProgressFile } from './progress-file.js';
import { runcmd, runPerBoot } from './script-step.js';
import { parseMetaData, parseUserData } from './seed-config.js';
import { findSeedDevice, readSeed } from './seed-disk.js';
import { StepFailed, type StepContext } from './step-run.js';
import { addUsers } from './user-step.js';

/** The steps after the seed, in the order first-boot.ts documents. */
export const STEPS: readonly ((ctx: StepContext) => Promise<void>)[] = [
  setHostname,
  addUsers,
  (ctx) => writeFiles(ctx, false),
  installPackages,
  (ctx) => writeFiles(ctx, true),
  runcmd,
  runPerBoot,
];

/** Finds, reads and checks the seed; undefined when the VM has none. */
async function seed(system: GuestSystem, progress: ProgressFile): Promise<{ meta: CloudMetaData; config: LodgeCloudConfig } | undefined> {
  const device = await findSeedDevice(system);
  if (device === undefined) {
    await progress.record({ step: 'seed', status: 'skipped', message: 'no seed disk (label or serial "cidata"): no first-boot settings' });
    return undefined;
  }
  await progress.record({ step: 'seed', name: device, status: 'started' });
  try {
    const files = await readSeed(system, device);
    const parsed = { meta: parseMetaData(files.metaData), config: parseUserData(files.userData) };
    await progress.record({ step: 'seed', name: device, status: 'ok', message: `instance ${parsed.meta['instance-id']}` });
    return parsed;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    await progress.record({ step: 'seed', name: device, status: 'failed', message });
    throw new StepFailed('seed', device, message);
  }
}

/** Provisions the guest under system.root; true when every step succeeded (or there was nothing to do). */
export async function provision(system: GuestSystem, progress = new ProgressFile(at(system, PROVISION_PROGRESS_FILE))): Promise<boolean> {
  await progress.open();
  try {
    const found = await seed(system, progress);
    if (!found) {
      await progress.done(true, 'nothing to provision');
      return true;
    }
    const ctx: StepContext = { system, progress, markers: new InstanceMarkers(system, found.meta['instance-id']), ...found };
    for (const step of STEPS) await step(ctx);
    await progress.done(true);
    return true;
  } catch (err) {
    if (!(err instanceof StepFailed)) process.stderr.write(`lodge-guest provision: ${err instanceof Error ? err.stack : String(err)}\n`);
    const message = err instanceof StepFailed ? `${err.step} ${err.message}` : `unexpected error: ${err instanceof Error ? err.message : String(err)}`;
    await progress.done(false, message);
    return false;
  }
}
