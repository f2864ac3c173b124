import { z } from 'zod';
import { ImageName } from './vm-spec.js';

export const ImageInfo = z.object({
  name: z.string(),
  /** Files are relative to the image's folder. No kernel: the VM boots from the disk (firmware → its bootloader). */
  kernel: z.string().optional(),
  initrd: z.string().optional(),
  disk: z.string(),
  kernelCmdline: z.string().default(''),
  kernelVersion: z.string().optional(),
  sizeBytes: z.number(),
  builtAt: z.string(),
  /** Built images: the hash of the recipe they were built from. */
  recipeHash: z.string().optional(),
  /** Imported images: the file they were copied from. */
  importedFrom: z.string().optional(),
  /** Printed by the guest's init on the serial console once it runs. */
  bootMarker: z.string().optional(),
  /**
   * Who reads the NoCloud seed at boot: lodge (our provisioner, which reports progress to lodge start), cloud-init
   * (a seed is attached, progress not followed), none (no seed; first-boot settings are refused). Absent: cloud-init.
   */
  firstBoot: z.enum(['lodge', 'cloud-init', 'none']).optional(),
  /** Built images: the recipe's name and description. */
  recipe: z.object({ name: z.string(), description: z.string().optional(), base: z.string().optional() }).optional(),
});
export type ImageInfo = z.infer<typeof ImageInfo>;

/** Who reads an image's seed: built images say; an imported image is taken to have cloud-init; else none. */
export function imageFirstBoot(image: Pick<ImageInfo, 'firstBoot' | 'importedFrom'>): 'lodge' | 'cloud-init' | 'none' {
  return image.firstBoot ?? (image.importedFrom !== undefined ? 'cloud-init' : 'none');
}

export const ImageEntry = ImageInfo.extend({ folder: z.string() });
export type ImageEntry = z.infer<typeof ImageEntry>;

const absolutePath = (what: string) => z.string().startsWith('/', `${what} must be an absolute path`);

/** `lodge image import`: a user's qcow2 or raw disk, optionally with a kernel for direct boot. */
export const ImageImportRequest = z
  .object({
    name: ImageName,
    file: absolutePath('file'),
    kernel: absolutePath('kernel').optional(),
    initrd: absolutePath('initrd').optional(),
    cmdline: z.string().max(4096, 'cmdline must be at most 4096 characters').optional(),
  })
  .strict()
  .refine((r) => r.kernel !== undefined || (r.initrd === undefined && r.cmdline === undefined), {
    message: 'initrd and cmdline need a kernel (without one the VM boots from the disk)',
  });
export type ImageImportRequest = z.infer<typeof ImageImportRequest>;

/** The image's base disk as qemu-img sees it. */
export interface ImageDiskFacts {
  format: string;
  virtualSizeBytes: number;
  /** Bytes the file takes on the host. */
  actualSizeBytes: number;
}

/** `lodge image inspect`: the manifest, its disk, and the VMs based on it. */
export interface ImageDetails {
  image: ImageEntry;
  disk: ImageDiskFacts;
  usedBy: string[];
}
