import { describe, expect, it } from 'vitest';
import { dependencyClosure, parseAptDepends, parsePolicyCandidates } from './package-closure.js';

// Shapes copied from `apt-cache depends --recurse --no-recommends ... --no-pre-depends` on Debian 12.
const NODE = `nodejs
  Depends: libc6
  Depends: libnode108
libc6
  Depends: libgcc-s1
libnode108
  Depends: libc6
  Depends: node-acorn
libgcc-s1
  Depends: gcc-12-base
  Depends: libc6
node-acorn
  Depends: node-xtend
 |Depends: <nodejs:any>
    nodejs
  Depends: nodejs
gcc-12-base
node-xtend
<nodejs:any>
`;

const CA = `ca-certificates
  Depends: openssl
 |Depends: debconf
  Depends: <debconf-2.0>
    cdebconf
    debconf
openssl
  Depends: libc6
debconf
cdebconf
  Depends: libc6
  Depends: debconf
libc6
<debconf-2.0>
`;

describe('parseAptDepends', () => {
  it('reads packages, alternatives and the providers of virtual packages', () => {
    const graph = parseAptDepends(CA);
    expect([...graph.packages.keys()]).toEqual(['ca-certificates', 'openssl', 'debconf', 'cdebconf', 'libc6']);
    expect(graph.virtual).toEqual(new Set(['debconf-2.0']));
    expect(graph.packages.get('ca-certificates')).toEqual([
      { alternatives: [{ name: 'openssl', virtual: false, providers: [] }] },
      { alternatives: [{ name: 'debconf', virtual: false, providers: [] }, { name: 'debconf-2.0', virtual: true, providers: ['cdebconf', 'debconf'] }] },
    ]);
  });

  it('drops architecture qualifiers', () => {
    const acorn = parseAptDepends(NODE).packages.get('node-acorn');
    expect(acorn?.[1]?.alternatives).toEqual([{ name: 'nodejs', virtual: true, providers: ['nodejs'] }, { name: 'nodejs', virtual: false, providers: [] }]);
  });
});

describe('dependencyClosure', () => {
  it('follows Depends recursively, cycles included, sorted', () => {
    expect(dependencyClosure(parseAptDepends(NODE), ['nodejs'])).toEqual({
      packages: ['gcc-12-base', 'libc6', 'libgcc-s1', 'libnode108', 'node-acorn', 'node-xtend', 'nodejs'],
      unsatisfied: [],
    });
  });

  it('takes the first alternative of an or-group, not all of them', () => {
    expect(dependencyClosure(parseAptDepends(CA), ['ca-certificates']).packages).toEqual(['ca-certificates', 'debconf', 'libc6', 'openssl']);
  });

  it('satisfies a virtual package with its first provider when no real alternative exists', () => {
    const graph = parseAptDepends(`a
  Depends: <awk>
    mawk
    gawk
mawk
gawk
<awk>
`);
    expect(dependencyClosure(graph, ['a']).packages).toEqual(['a', 'mawk']);
  });

  it('reports what nothing satisfies, and unknown roots', () => {
    const graph = parseAptDepends(`a
  Depends: <gone>
<gone>
`);
    expect(dependencyClosure(graph, ['a', 'b'])).toEqual({ packages: ['a'], unsatisfied: ['(requested): b', 'a: gone'] });
  });
});

describe('parsePolicyCandidates', () => {
  it('reads each package candidate, skipping those without one', () => {
    const text = `nodejs:
  Installed: (none)
  Candidate: 18.20.4+dfsg-1~deb12u3
  Version table:
     18.20.4+dfsg-1~deb12u3 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
zlib1g:
  Installed: (none)
  Candidate: 1:1.2.13.dfsg-1
ghost:
  Installed: (none)
  Candidate: (none)
`;
    expect(parsePolicyCandidates(text)).toEqual(new Map([['nodejs', '18.20.4+dfsg-1~deb12u3'], ['zlib1g', '1:1.2.13.dfsg-1']]));
  });
});
