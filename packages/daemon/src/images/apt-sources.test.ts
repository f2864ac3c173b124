import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LodgeError } from '@lodge/api';
import { hostReleaseSources, parseDeb822Sources, parseSourcesList, releaseSources } from './apt-sources.js';

const DEB822 = `Types: deb deb-src
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
Enabled: no
URIs: http://disabled.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://inline.example/debian
Suites: bookworm
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 -----END PGP PUBLIC KEY BLOCK-----
`;

describe('parseSourcesList', () => {
  it('reads deb lines with and without options, skipping deb-src and comments', () => {
    const text = `# comment\ndeb http://m.example/debian bookworm main non-free # trailing\ndeb-src http://m.example/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] https://x.example/repo nodistro main\n`;
    expect(parseSourcesList(text)).toEqual([
      { uri: 'http://m.example/debian', suite: 'bookworm', components: ['main', 'non-free'] },
      { uri: 'https://x.example/repo', suite: 'nodistro', components: ['main'], signedBy: '/k.gpg' },
    ]);
  });
});

describe('parseDeb822Sources', () => {
  it('expands URIs × Suites, skips disabled stanzas and keeps only key paths', () => {
    const sources = parseDeb822Sources(DEB822);
    expect(sources.map((s) => `${s.uri} ${s.suite} ${s.signedBy ?? '-'}`)).toEqual([
      'http://mirror.example/debian bookworm /usr/share/keyrings/debian-archive-keyring.gpg',
      'http://mirror.example/debian bookworm-updates /usr/share/keyrings/debian-archive-keyring.gpg',
      'http://mirror.example/debian-security bookworm-security -',
      'http://inline.example/debian bookworm -',
    ]);
  });
});

describe('releaseSources', () => {
  it("keeps the release's Debian suites with main only, as one-line entries without duplicates", () => {
    const lines = releaseSources(
      [
        ...parseSourcesList('deb http://m.example/debian bookworm main contrib\ndeb http://m.example/debian bookworm main\ndeb http://m.example/debian trixie main\n'),
        ...parseSourcesList('deb [signed-by=/n.gpg] https://n.example nodistro main\ndeb http://m.example/debian bookworm-backports main\n'),
        ...parseSourcesList('deb http://s.example/debian-security bookworm-security main\ndeb http://c.example/debian bookworm contrib\n'),
      ],
      'bookworm',
    );
    expect(lines).toEqual(['deb http://m.example/debian bookworm main', 'deb http://s.example/debian-security bookworm-security main']);
  });
});

describe('hostReleaseSources', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lodge-apt-'));
    await mkdir(join(dir, 'sources.list.d'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads sources.list, *.list and *.sources, ignoring other files', async () => {
    await writeFile(join(dir, 'sources.list'), 'deb http://a.example/debian bookworm main\n');
    await writeFile(join(dir, 'sources.list.d', 'debian.sources'), DEB822);
    await writeFile(join(dir, 'sources.list.d', 'old.list.disabled'), 'deb http://z.example/debian bookworm main\n');
    const text = await hostReleaseSources('bookworm', dir);
    expect(text).toContain('deb http://a.example/debian bookworm main\n');
    expect(text).toContain('deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian bookworm-updates main\n');
    expect(text).not.toContain('z.example');
    expect(text).not.toContain('disabled.example');
  });

  it('is image_unavailable, naming the folder and the suite, when no source has the release', async () => {
    await writeFile(join(dir, 'sources.list'), 'deb http://a.example/debian trixie main\ndeb http://a.example/debian-security bookworm-security main\n');
    const err = (await hostReleaseSources('bookworm', dir).catch((e: unknown) => e)) as LodgeError;
    expect(err).toBeInstanceOf(LodgeError);
    expect(err.code).toBe('image_unavailable');
    expect(err.message).toContain(dir);
    expect(err.message).toContain('"bookworm"');
  });
});
