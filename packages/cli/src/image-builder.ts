import type { ImageBuildRequest, LodgeError, Operation } from '@lodge/api';
import type { LodgeClient } from '@lodge/client';
import { asLodgeError } from './error-printer.js';
import { followOperation, operationError } from './operation-progress.js';
import type { Session } from './session.js';

/** The daemon's last step says "cache hit" when the image was already built from the same recipe. */
export const wasCacheHit = (op: Operation): boolean => op.progress?.step.includes('cache hit') ?? false;

/** Builds an image with progress; resolves with the succeeded operation, throws its error otherwise. */
export async function buildWithProgress(client: LodgeClient, session: Session, name: string, req: ImageBuildRequest): Promise<Operation> {
  const op = await client.buildImage(name, req);
  const finished = await followOperation(client, op, { label: `image ${name}`, quiet: session.json });
  if (finished.status === 'failed') throw operationError(finished);
  return finished;
}

/** Waits for a build someone else started (the daemon builds one image at a time). */
async function awaitOtherBuild(client: LodgeClient, name: string): Promise<void> {
  const events = await client.events();
  try {
    // Subscribed first, then checked: a build that ended in between is seen by image().
    if (await client.image(name).then(() => true, () => false)) return;
    for await (const ev of events) {
      if (ev.type !== 'operation' || ev.operation.kind !== 'image.build' || ev.operation.target !== name) continue;
      if (ev.operation.status === 'failed') throw operationError(ev.operation);
      if (ev.operation.status === 'succeeded') return;
    }
  } finally {
    events.close();
  }
}

/** For `lodge create`: builds the image first when it is a known recipe that is not built yet. */
export async function ensureImage(client: LodgeClient, session: Session, name: string): Promise<void> {
  let missing: LodgeError;
  try {
    await client.image(name);
    return;
  } catch (err) {
    const e = asLodgeError(err);
    if (e?.code !== 'not_found') throw err;
    missing = e;
  }
  // The daemon lists the recipes it knows when the name is none of them: no build to try.
  const known = missing.details?.known;
  if (Array.isArray(known) && !known.includes(name)) throw missing;
  session.note(`Image ${name} is not built yet; building it first`);
  try {
    const op = await buildWithProgress(client, session, name, { force: false });
    session.note(wasCacheHit(op) ? `Image ${name}: cache hit` : `Built image ${name}`);
  } catch (err) {
    const e = asLodgeError(err);
    // invalid_argument: not a recipe the daemon knows, so "not found" (with the known names) is the answer.
    if (e?.code === 'invalid_argument') throw missing;
    if (e?.code !== 'conflict') throw err;
    session.note(`Image ${name} is being built by another command; waiting for it`);
    await awaitOtherBuild(client, name);
  }
}
