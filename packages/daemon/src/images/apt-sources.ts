import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LodgeError } from '@lodge/api';

/** One apt source as the host lists it (either file format), reduced to what a bootstrap needs. */
export interface AptSource {
  uri: string;
  suite: string;
  components: string[];
  signedBy?: string;
}

/** Parses one-line `.list` text: `deb [opts] URI SUITE COMPONENT...`; deb-src and comments are skipped. */
export function parseSourcesList(text: string): AptSource[] {
  const sources: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const signedBy = /(?:^|\s)signed-by=(\S+)/.exec(m[1] ?? '')?.[1];
    sources.push({ uri: m[2] ?? '', suite: m[3] ?? '', components: (m[4] ?? '').split(/\s+/).filter(Boolean), ...(signedBy ? { signedBy } : {}) });
  }
  return sources;
}

/** Parses deb822 `.sources` text (stanzas split by blank lines); stanzas with `Enabled: no` or no `deb` type are skipped. */
export function parseDeb822Sources(text: string): AptSource[] {
  const sources: AptSource[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last = '';
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      const m = /^([\w-]+):\s*(.*)$/.exec(line);
      if (m) fields.set((last = (m[1] ?? '').toLowerCase()), (m[2] ?? '').trim());
      else if (/^\s/.test(line) && last) fields.set(last, `${fields.get(last) ?? ''}\n${line.trim()}`); // continuation (e.g. an inline key)
    }
    const words = (k: string): string[] => (fields.get(k) ?? '').split(/\s+/).filter(Boolean);
    if (!words('types').includes('deb') || fields.get('enabled')?.toLowerCase() === 'no') continue;
    const signedBy = fields.get('signed-by');
    // An inline key block (several lines) cannot be passed as a path: leave it to the default keyrings.
    const keyPath = signedBy && !signedBy.includes('\n') ? { signedBy } : {};
    for (const uri of words('uris')) for (const suite of words('suites')) sources.push({ uri, suite, components: words('components'), ...keyPath });
  }
  return sources;
}

/**
 * The sources of one Debian release (suites `<codename>`, `<codename>-updates`, `<codename>-security`), main
 * component only, as one-line entries for mmdebstrap's stdin. Third-party sources of the host are left out.
 */
export function releaseSources(sources: AptSource[], codename: string): string[] {
  const suites = new Set([codename, `${codename}-updates`, `${codename}-security`, `${codename}/updates`]);
  const lines = sources
    .filter((s) => suites.has(s.suite) && s.components.includes('main'))
    .map((s) => `deb ${s.signedBy ? `[signed-by=${s.signedBy}] ` : ''}${s.uri} ${s.suite} main`);
  return [...new Set(lines)];
}

/** Reads the host's apt sources (sources.list and sources.list.d's *.list and *.sources) from aptDir. */
export async function readHostSources(aptDir = '/etc/apt'): Promise<AptSource[]> {
  const read = (p: string): Promise<string> => readFile(p, 'utf8').catch(() => '');
  const sources = parseSourcesList(await read(join(aptDir, 'sources.list')));
  const dir = join(aptDir, 'sources.list.d');
  for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
    if (name.endsWith('.list')) sources.push(...parseSourcesList(await read(join(dir, name))));
    else if (name.endsWith('.sources')) sources.push(...parseDeb822Sources(await read(join(dir, name))));
  }
  return sources;
}

/** The host's sources for `codename`, as mmdebstrap stdin text; image_unavailable when the host lists none. */
export async function hostReleaseSources(codename: string, aptDir = '/etc/apt'): Promise<string> {
  const lines = releaseSources(await readHostSources(aptDir), codename);
  if (!lines.some((l) => new RegExp(` ${codename} main$`).test(l))) {
    throw new LodgeError('image_unavailable', `the host's apt sources (${aptDir}) list no Debian "${codename}" suite with the main component`, {
      hint: `add a line like "deb <your Debian mirror> ${codename} main" to ${aptDir}/sources.list.d/, then build again`,
      details: { aptDir, codename },
    });
  }
  return `${lines.join('\n')}\n`;
}
