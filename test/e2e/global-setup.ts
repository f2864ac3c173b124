import { mkdir } from 'node:fs/promises';
import { IMAGES_DIR, REPO } from './harness.js';

/** Builds the micro image once per run into the shared cache every e2e test uses. */
export default async function setup(): Promise<void> {
  await mkdir(IMAGES_DIR, { recursive: true });
  const { buildImage } = (await import(`${REPO}/packages/daemon/dist/images/image-store.js`)) as {
    buildImage: (name: string, opts: { imagesDir: string; force: boolean; onProgress: (p: { step: string }) => void }) => Promise<{ cached: boolean }>;
  };
  const started = Date.now();
  const { cached } = await buildImage('micro', { imagesDir: IMAGES_DIR, force: false, onProgress: () => undefined });
  process.stdout.write(`micro image ${cached ? 'cached' : 'built'} in ${Date.now() - started} ms (${IMAGES_DIR})\n`);
}
