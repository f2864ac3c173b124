import { resolve } from 'node:path';
import { ImageRecipe } from '@lodge/api';
import { UsageError } from './flag-values.js';
import { issueText, readYamlFile } from './yaml-file.js';

/** `lodge image build --recipe FILE`: the recipe read and checked here (as the user), sent whole to the daemon. */
export async function readRecipeFile(file: string): Promise<ImageRecipe> {
  const path = resolve(file);
  const checked = ImageRecipe.safeParse(await readYamlFile(path, 'image recipe'));
  if (!checked.success) {
    throw new UsageError(`image recipe ${path} is not valid: ${issueText(checked.error.issues[0])}`, 'a recipe has name, description, base (debian-12), packages and boot; see docs/templates.md');
  }
  return checked.data;
}
