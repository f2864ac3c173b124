import { ImageRecipe, LodgeError } from '@lodge/api';
import { parse } from 'yaml';

/** The first schema issue as "path: message" (e.g. "packages.2: a package is …"). */
function firstIssue(issues: readonly { path: PropertyKey[]; message: string; code: string; keys?: string[] }[]): string {
  const issue = issues[0];
  if (!issue) return 'rejected';
  const message = issue.code === 'unrecognized_keys' ? `unknown field(s) ${(issue.keys ?? []).map((k) => `"${k}"`).join(', ')}` : issue.message;
  const path = issue.path.map(String).join('.');
  return path === '' ? message : `${path}: ${message}`;
}

/** A recipe given as an object (from YAML or the wire), checked; invalid_argument naming the source and field. */
export function checkRecipe(value: unknown, source: string): ImageRecipe {
  const checked = ImageRecipe.safeParse(value);
  if (checked.success) return checked.data;
  throw new LodgeError('invalid_argument', `image recipe ${source} is not valid: ${firstIssue(checked.error.issues)}`, {
    hint: 'a recipe has name, description, base (debian-12), packages (Debian package names) and boot (direct or grub)',
    details: { source, issues: checked.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })) },
  });
}

/** Parses a YAML recipe's text; bad YAML or a bad field is invalid_argument naming the source. */
export function parseRecipeText(text: string, source: string): ImageRecipe {
  let value: unknown;
  try {
    value = parse(text);
  } catch (err) {
    throw new LodgeError('invalid_argument', `image recipe ${source} is not valid YAML: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  return checkRecipe(value, source);
}
