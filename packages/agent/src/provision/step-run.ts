// One provisioning step as progress records: started, then ok or failed (with the command's output tail).

import { PROVISION_OUTPUT_TAIL_BYTES, type CloudMetaData, type LodgeCloudConfig, type ProvisionStep } from '@lodge/api/guest';
import { CommandFailed, type GuestSystem } from './guest-system.js';
import type { InstanceMarkers } from './instance-markers.js';
import { tailText } from './output-tail.js';
import type { ProgressFile } from './progress-file.js';

export interface StepContext {
  system: GuestSystem;
  progress: ProgressFile;
  markers: InstanceMarkers;
  meta: CloudMetaData;
  config: LodgeCloudConfig;
}

/** Thrown after a failed record is written: the provisioner stops at the first failure. */
export class StepFailed extends Error {
  constructor(readonly step: ProvisionStep, readonly what: string, message: string) {
    super(`${what}: ${message}`);
    this.name = 'StepFailed';
  }
}

/** A command that failed in a way its record says more about (scripts, apt). */
export class TimedOut extends CommandFailed {}

/** Runs `work` between a started and an ok record; on an error writes the failed record and throws StepFailed. */
export async function tracked(ctx: StepContext, step: ProvisionStep, name: string | undefined, work: () => Promise<string | void>): Promise<void> {
  const named = name === undefined ? {} : { name };
  await ctx.progress.record({ step, ...named, status: 'started' });
  let message: string | void;
  try {
    message = await work();
  } catch (err) {
    const failed = err instanceof CommandFailed
      ? { message: err.message.split('\n')[0] as string, output: tailText(err.result.output, PROVISION_OUTPUT_TAIL_BYTES), exitCode: err.result.code, ...(err instanceof TimedOut ? { timedOut: true } : {}) }
      : { message: err instanceof Error ? err.message : String(err) };
    await ctx.progress.record({ step, ...named, status: 'failed', ...failed });
    throw new StepFailed(step, name ?? step, failed.message);
  }
  await ctx.progress.record({ step, ...named, status: 'ok', ...(message ? { message } : {}) });
}

/** Runs a once-per-instance step unless its marker says it is done; the marker is written after it succeeded. */
export async function once(ctx: StepContext, step: ProvisionStep, marker: string, work: () => Promise<void>, name?: string): Promise<void> {
  if (await ctx.markers.isDone(marker)) {
    await ctx.progress.record({ step, ...(name === undefined ? {} : { name }), status: 'skipped', message: `done at an earlier boot of instance ${ctx.meta['instance-id']}` });
    return;
  }
  await work();
  await ctx.markers.markDone(marker);
}
