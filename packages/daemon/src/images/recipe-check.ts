import { LodgeError, type ImageRecipe } from '@lodge/api';
import { missingPackages, type AptOptions } from './debian-packages.js';

const quoted = (names: readonly string[]): string => names.map((n) => `"${n}"`).join(', ');

/**
 * Checks with apt, before anything is downloaded or written, that every package the recipe adds can be
 * installed: an unknown name fails the build at once, naming every such package.
 */
export async function checkRecipePackages(recipe: Pick<ImageRecipe, 'name' | 'packages'>, apt: AptOptions): Promise<void> {
  const missing = await missingPackages(recipe.packages, apt).catch((err: unknown) => {
    if (apt.signal?.aborted) throw err;
    throw new LodgeError('image_unavailable', `image recipe "${recipe.name}": apt could not look up its packages`, {
      hint: 'run apt-get update on the host (the host needs to reach a Debian mirror), then build again',
      cause: err,
    });
  });
  if (missing.length === 0) return;
  const one = missing.length === 1;
  throw new LodgeError('image_unavailable', `image recipe "${recipe.name}": Debian package${one ? '' : 's'} ${quoted(missing)} ${one ? 'is' : 'are'} not available from apt`, {
    hint: `check the name${one ? '' : 's'} (apt-cache search ${missing[0] ?? ''}); a virtual package needs the name of a package that provides it`,
    details: { recipe: recipe.name, packages: missing },
  });
}
