import { imageFirstBoot, type GuestVia, type ImageInfo, type Progress, type VmSpec, type VmState } from '@lodge/api';
import type { GuestService } from './guest-service.js';

export const CLOUD_INIT_NOTE = "first-boot settings are applied by the image's cloud-init; lodge start does not wait for them";

/**
 * The part of a start after the guest is ready: images with Lodge's provisioner are followed to the end of their
 * first-boot work (a failure fails the start; the VM keeps running); cloud-init images get a note once.
 */
export async function finishFirstBoot(o: {
  guest: GuestService;
  spec: VmSpec;
  image: Pick<ImageInfo, 'firstBoot' | 'importedFrom'>;
  via: GuestVia | undefined;
  stateOf: () => VmState | undefined;
  progress: (p: Progress) => void;
}): Promise<void> {
  const mode = imageFirstBoot(o.image);
  if (mode === 'cloud-init') return o.progress({ step: CLOUD_INIT_NOTE, percent: 100 });
  if (mode !== 'lodge') return;
  if (!o.via) return o.progress({ step: 'provisioning not followed: the guest agent did not answer', percent: 100 });
  await o.guest.followProvisioning(o.spec.name, { spec: o.spec, progress: o.progress, stateOf: o.stateOf });
}
