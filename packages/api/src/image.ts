import { z } from 'zod';

export const ImageInfo = z.object({
  name: z.string(),
  /** Files are relative to the image's folder. */
  kernel: z.string(),
  initrd: z.string(),
  disk: z.string(),
  kernelCmdline: z.string(),
  kernelVersion: z.string(),
  sizeBytes: z.number(),
  builtAt: z.string(),
  recipeHash: z.string(),
  /** Printed by the guest's init on the serial console once it runs. */
  bootMarker: z.string(),
});
export type ImageInfo = z.infer<typeof ImageInfo>;

export const ImageEntry = ImageInfo.extend({ folder: z.string() });
export type ImageEntry = z.infer<typeof ImageEntry>;
