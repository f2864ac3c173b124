import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { UsageError } from './flag-values.js';

/** Reads a YAML file given on the command line (as the user running lodge); unreadable or bad YAML is a usage error naming the file. */
export async function readYamlFile(file: string, what: string): Promise<unknown> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${what} ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  return parseYamlText(text, `${what} ${file}`);
}

/** Parses YAML text; the first error (with its line) is a usage error naming where the text came from. */
export function parseYamlText(text: string, source: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const [error] = doc.errors;
  if (error) throw new UsageError(`${source} is not valid YAML: ${error.message.split('\n')[0] ?? error.code}`);
  return doc.toJS() as unknown;
}

/** The first schema issue as "field: message", unknown keys named. */
export function issueText(issue: { path: PropertyKey[]; message: string; code: string; keys?: string[] } | undefined): string {
  if (!issue) return 'rejected';
  const message = issue.code === 'unrecognized_keys' ? `unknown field(s) ${(issue.keys ?? []).map((k) => `"${k}"`).join(', ')}` : issue.message;
  const path = issue.path.map(String).join('.');
  return path === '' ? message : `${path}: ${message}`;
}
