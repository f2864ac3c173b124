import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buildTestImage, IMAGES_DIR, REPO } from './harness.js';

/** Rebuilds the CLI bundle the tests run when tsc's output changed since (`npx tsc -b` alone does not), then the micro image once per run. */
export default async function setup(): Promise<void> {
  process.stdout.write(execFileSync(process.execPath, [join(REPO, 'packages/cli/scripts/bundle.mjs')], { encoding: 'utf8' }));
  await mkdir(IMAGES_DIR, { recursive: true });
  const started = Date.now();
  const { cached } = await buildTestImage('micro');
  process.stdout.write(`micro image ${cached ? 'cached' : 'built'} in ${Date.now() - started} ms (${IMAGES_DIR})\n`);
}
