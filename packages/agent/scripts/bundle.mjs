// Bundles the agent and the guest CLI into one file each for the guest's Node 18 (no module loading at start-up).
import { copyFileSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const entries = [
  ['src/lodge-agent.ts', 'dist/lodge-agent.mjs'],
  ['src/guest-cli.ts', 'dist/lodge-guest.mjs'],
];

for (const [entry, outfile] of entries) {
  const result = await build({
    entryPoints: [join(root, entry)],
    outfile: join(root, outfile),
    bundle: true,
    platform: 'node',
    target: 'node18',
    format: 'esm',
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    banner: { js: '#!/usr/bin/env node' },
    define: { __LODGE_AGENT_VERSION__: JSON.stringify(version) },
    metafile: true,
    logLevel: 'warning',
  });
  const inputs = Object.keys(result.metafile.inputs);
  const forbidden = inputs.filter((p) => /node_modules\/zod|packages\/(cli|client|daemon)\//.test(p));
  if (forbidden.length > 0) throw new Error(`${outfile} must not contain ${forbidden.join(', ')}`);
  console.log(`${outfile}: ${(statSync(join(root, outfile)).size / 1024).toFixed(1)} KiB from ${inputs.length} modules`);
}
// lodge-spawn and lodge-port ship as C source: the image builder compiles them (static, for the guest) and hashes
// them into the recipe.
for (const name of ['lodge-spawn.c', 'lodge-port.c', 'port-exec.c', 'lodge-port.h']) copyFileSync(join(root, 'native', name), join(root, 'dist', name));
