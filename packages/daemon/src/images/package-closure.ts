/** One dependency of a package: any of `alternatives` satisfies it (an `a | b` group has two). */
export interface DependencyGroup {
  alternatives: { name: string; virtual: boolean; providers: string[] }[];
}

/** What `apt-cache depends --recurse` says: each package's dependency groups, and which names are virtual. */
export interface DependencyGraph {
  packages: Map<string, DependencyGroup[]>;
  virtual: Set<string>;
}

/** `nodejs:any` → `nodejs`: the image has one architecture, so qualifiers say nothing. */
function bareName(name: string): string {
  return name.replace(/:\w+$/, '');
}

/**
 * Parses `apt-cache depends --recurse` output. Its shape, one package per unindented line:
 *
 *     node-acorn
 *       Depends: node-xtend
 *      |Depends: <nodejs:any>        ← "|": or the next one
 *         nodejs                     ← a provider of the virtual package above
 *       Depends: nodejs
 *     <debconf-2.0>                  ← a virtual package reached by the recursion
 */
export function parseAptDepends(text: string): DependencyGraph {
  const packages = new Map<string, DependencyGroup[]>();
  const virtual = new Set<string>();
  let groups: DependencyGroup[] | undefined;
  let open: DependencyGroup | undefined; // the group an `|` line left open for the next alternative
  let last: DependencyGroup['alternatives'][number] | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const top = /^<?([^\s<>]+?)>?$/.exec(line);
    if (top && !line.startsWith(' ')) {
      const name = bareName(top[1] ?? '');
      if (line.startsWith('<')) {
        virtual.add(name);
        groups = undefined;
      } else {
        groups = [];
        packages.set(name, groups);
      }
      open = last = undefined;
      continue;
    }
    const dep = /^ (\||\s)\s*[\w-]+: (<?)([^\s<>]+?)>?\s*$/.exec(line);
    if (dep && groups) {
      const alt = { name: bareName(dep[3] ?? ''), virtual: dep[2] === '<', providers: [] as string[] };
      const group = open ?? { alternatives: [] };
      if (!open) groups.push(group);
      group.alternatives.push(alt);
      open = dep[1] === '|' ? group : undefined;
      last = alt;
      continue;
    }
    const provider = /^ {4,}([^\s<>]+)\s*$/.exec(line);
    if (provider && last?.virtual) last.providers.push(bareName(provider[1] ?? ''));
  }
  return { packages, virtual };
}

/**
 * The packages to install for `roots`, as apt would pick them without a resolver's cleverness: every
 * dependency group is satisfied by a package already chosen if any alternative names one, else by its first
 * alternative that is a real package, else by the first provider of its first virtual alternative.
 * Sorted by name; `unsatisfied` lists the groups nothing could satisfy (as "pkg: a | b").
 */
export function dependencyClosure(graph: DependencyGraph, roots: string[]): { packages: string[]; unsatisfied: string[] } {
  const chosen = new Set<string>();
  const unsatisfied: string[] = [];
  const queue: string[] = [];
  const choose = (name: string): void => {
    if (chosen.has(name)) return;
    chosen.add(name);
    queue.push(name);
  };
  for (const root of roots) {
    if (graph.packages.has(root)) choose(root);
    else unsatisfied.push(`(requested): ${root}`);
  }
  while (queue.length > 0) {
    const name = queue.shift() ?? '';
    for (const group of graph.packages.get(name) ?? []) {
      const names = group.alternatives.flatMap((a) => (a.virtual ? a.providers : [a.name]));
      if (names.some((n) => chosen.has(n))) continue;
      const pick = group.alternatives.find((a) => !a.virtual && graph.packages.has(a.name))?.name
        ?? group.alternatives.flatMap((a) => a.providers).find((p) => graph.packages.has(p));
      if (pick === undefined) unsatisfied.push(`${name}: ${group.alternatives.map((a) => a.name).join(' | ')}`);
      else choose(pick);
    }
  }
  return { packages: [...chosen].sort(), unsatisfied };
}

/** Parses `apt-cache policy a b c` into each package's candidate version; "(none)" candidates are left out. */
export function parsePolicyCandidates(text: string): Map<string, string> {
  const candidates = new Map<string, string>();
  let current: string | undefined;
  for (const line of text.split('\n')) {
    const head = /^(\S+):$/.exec(line);
    if (head) {
      current = bareName(head[1] ?? '');
      continue;
    }
    const cand = /^\s+Candidate:\s*(\S+)/.exec(line);
    if (cand && current !== undefined && cand[1] !== '(none)') candidates.set(current, cand[1] ?? '');
  }
  return candidates;
}
