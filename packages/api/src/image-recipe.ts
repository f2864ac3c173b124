import { z } from 'zod';
import { ImageName } from './vm-spec.js';

/** Recipes a YAML recipe can extend (their package set, files and first-boot step come first). */
export const RECIPE_BASES = ['debian-12'] as const;

const packageName = z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, 'a package is a Debian package name (lowercase letters, digits, "+", "-", ".")');

/**
 * An image recipe (`lodge image build --recipe FILE.yaml`, and the built-in ones): a base recipe plus packages.
 * Its text is part of the image's recipe hash, so any change rebuilds.
 */
export const ImageRecipe = z
  .object({
    name: ImageName,
    description: z.string().max(200, 'description is at most 200 characters').optional(),
    base: z.enum(RECIPE_BASES).default('debian-12'),
    /** Installed on top of the base's packages (Depends only, no Recommends, like the base). */
    packages: z.array(packageName).max(1000, 'at most 1000 packages').default([]),
    /** direct: QEMU loads the image's kernel and initrd; grub: the disk has a partition table and GRUB and boots from firmware. */
    boot: z.enum(['direct', 'grub']).default('direct'),
  })
  .strict();
export type ImageRecipe = z.output<typeof ImageRecipe>;
export type ImageRecipeInput = z.input<typeof ImageRecipe>;

/** `POST /v1/images/:name/build`: a built-in recipe by name, or a recipe given whole (its name must match). */
export const ImageBuildRequest = z
  .object({
    force: z.boolean().default(false),
    recipe: ImageRecipe.optional(),
  })
  .strict();
export type ImageBuildRequest = z.input<typeof ImageBuildRequest>;
