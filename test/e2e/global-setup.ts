import { mkdir } from 'node:fs/promises';
import { buildTestImage, IMAGES_DIR } from './harness.js';

/** Builds the micro image once per run into the shared cache every e2e test uses. */
export default async function setup(): Promise<void> {
  await mkdir(IMAGES_DIR, { recursive: true });
  const started = Date.now();
  const { cached } = await buildTestImage('micro');
  process.stdout.write(`micro image ${cached ? 'cached' : 'built'} in ${Date.now() - started} ms (${IMAGES_DIR})\n`);
}
