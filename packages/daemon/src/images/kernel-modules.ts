import { LodgeError } from '@lodge/api';

/** A driver the guest wants, and the kernel config symbol that says whether it is built in (=y) or a module (=m). */
export interface GuestDriver {
  module: string;
  config: string;
  /** Boot cannot work without it. */
  required?: boolean;
}

/** Module name as the kernel knows it: file name without .ko(.xz|.zst|.gz), dashes as underscores. */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replaceAll('-', '_');
}

/** Parses modules.dep ("path: dep dep") into a map from module name to its path and its direct dependencies' names. */
export function parseModulesDep(text: string): Map<string, { path: string; deps: string[] }> {
  const modules = new Map<string, { path: string; deps: string[] }>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const path = line.slice(0, colon).trim();
    const deps = line.slice(colon + 1).trim().split(/\s+/).filter(Boolean).map(moduleName);
    modules.set(moduleName(path), { path, deps });
  }
  return modules;
}

/** Orders the wanted modules with all their dependencies so each comes after everything it needs (insmod order). */
export function loadOrder(dep: ReturnType<typeof parseModulesDep>, wanted: string[]): { paths: string[]; missing: string[] } {
  const paths: string[] = [];
  const missing: string[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();
  const visit = (name: string): void => {
    if (done.has(name) || visiting.has(name)) return; // a cycle cannot be loaded anyway; modules.dep never has one
    const entry = dep.get(name);
    if (!entry) {
      if (!missing.includes(name)) missing.push(name);
      return;
    }
    visiting.add(name);
    for (const d of entry.deps) visit(d);
    visiting.delete(name);
    done.add(name);
    paths.push(entry.path);
  };
  for (const name of wanted) visit(moduleName(name));
  return { paths, missing };
}

/** Reads CONFIG_X values from a kernel config file's text ("y", "m" or a string; unset symbols are absent). */
export function parseKernelConfig(text: string): Map<string, string> {
  const config = new Map<string, string>();
  for (const m of text.matchAll(/^CONFIG_(\w+)=(.*)$/gm)) config.set(m[1] ?? '', m[2] ?? '');
  return config;
}

/** Splits drivers into modules to load and notes on what is built in or absent; a required driver that is absent throws. */
export function selectDrivers(config: Map<string, string>, drivers: GuestDriver[]): { modules: string[]; builtIn: string[]; absent: string[] } {
  const modules: string[] = [];
  const builtIn: string[] = [];
  const absent: string[] = [];
  for (const d of drivers) {
    const value = config.get(d.config);
    if (value === 'y') builtIn.push(d.module);
    else if (value === 'm') modules.push(d.module);
    else if (d.required) {
      throw new LodgeError('image_unavailable', `the kernel lacks ${d.module} (CONFIG_${d.config} is not set)`, {
        hint: 'use a kernel package that has virtio and ext4 support',
      });
    } else absent.push(d.module);
  }
  return { modules, builtIn, absent };
}
