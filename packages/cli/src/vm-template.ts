import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from './flag-values.js';
import { TEMPLATE_KEYS, unknownKeyHint } from './template-keys.js';
import { readYamlFile } from './yaml-file.js';

/** The templates shipped with Lodge (packages/cli/templates; the same depth from src/ and dist/). */
export const TEMPLATES_DIR = join(import.meta.dirname, '../templates');

/** A template read from its file: the fields of a create request, unchecked but for their keys. */
export interface VmTemplate {
  file: string;
  fields: Record<string, unknown>;
}

export function builtinTemplates(): string[] {
  return readdirSync(TEMPLATES_DIR).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -'.yaml'.length)).sort();
}

/** A built-in template's name, or a path to a YAML file (anything with a "/" or a .yaml/.yml ending). */
export function templateFile(t: string): string {
  if (t.includes('/') || /\.ya?ml$/.test(t)) return resolve(t);
  const file = join(TEMPLATES_DIR, `${t}.yaml`);
  if (/^[a-z0-9][a-z0-9.-]*$/.test(t) && existsSync(file)) return file;
  throw new UsageError(`unknown template "${t}"; built-in templates: ${builtinTemplates().join(', ')}`, 'or give the path of a YAML file, e.g. --template ./dev.yaml');
}

/** Lima's provision modes that Lodge spells differently. */
const LIMA_MODES: Record<string, string> = {
  boot: 'write mode: system and run: boot (runs at every boot)',
  dependency: 'write mode: system (scripts run in order, before user scripts)',
  data: 'write the file under files: (path, content, mode, owner)',
};

function checkProvisionModes(file: string, provision: unknown): void {
  if (!Array.isArray(provision)) return;
  provision.forEach((p: unknown, i) => {
    const mode = (p as { mode?: unknown } | null)?.mode;
    const hint = typeof mode === 'string' ? LIMA_MODES[mode] : undefined;
    if (hint !== undefined) throw new UsageError(`template ${file}: provision.${i}.mode "${String(mode)}" is Lima's; Lodge's modes are system and user`, hint);
  });
}

/** Reads a template; unknown keys are refused with the key, the file and what to write instead. */
export async function readTemplate(t: string): Promise<VmTemplate> {
  const file = templateFile(t);
  const value = await readYamlFile(file, 'template');
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`template ${file} is not a mapping of keys to values`, 'e.g. image: debian-12, cpus: 2, memory: 2GiB; see lodge create --help');
  }
  for (const key of Object.keys(value)) {
    if (key === 'name') throw new UsageError(`template ${file}: unknown key "name"`, 'the VM name is given on the command line: lodge create NAME --template …');
    if (!(TEMPLATE_KEYS as readonly string[]).includes(key)) throw new UsageError(`template ${file}: unknown key "${key}"`, unknownKeyHint(key));
  }
  checkProvisionModes(file, (value as { provision?: unknown }).provision);
  return { file, fields: value as Record<string, unknown> };
}
