import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageRecipe } from '@lodge/api';
import { parseRecipeText } from './recipe-text.js';

/** The YAML recipes shipped with Lodge (packages/daemon/recipes; the same depth from src/ and dist/). */
export const BUILTIN_RECIPES_DIR = join(import.meta.dirname, '../../recipes');

let loaded: ReadonlyMap<string, ImageRecipe> | undefined;

/**
 * The built-in YAML recipes by name, read once (a few small files, at the first image request). A shipped
 * recipe that does not parse is a bug in Lodge, so it throws rather than being skipped.
 */
export function builtinRecipes(dir = BUILTIN_RECIPES_DIR): ReadonlyMap<string, ImageRecipe> {
  if (loaded && dir === BUILTIN_RECIPES_DIR) return loaded;
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
  const recipes = new Map<string, ImageRecipe>();
  for (const file of files) {
    const recipe = parseRecipeText(readFileSync(join(dir, file), 'utf8'), join(dir, file));
    if (`${recipe.name}.yaml` !== file) throw new Error(`built-in recipe ${file} is named "${recipe.name}"; its file must be ${recipe.name}.yaml`);
    recipes.set(recipe.name, recipe);
  }
  if (dir === BUILTIN_RECIPES_DIR) loaded = recipes;
  return recipes;
}
