// write_files (once per instance): parents made (mkdir -p), content (text or b64), mode and owner set.

import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { CloudFile } from '@lodge/api/guest';
import { ownerIds } from './accounts.js';
import { at } from './guest-system.js';
import { once, tracked, type StepContext } from './step-run.js';

async function writeOne(ctx: StepContext, file: CloudFile): Promise<void> {
  const { uid, gid } = ownerIds(ctx.system, file.owner);
  const path = at(ctx.system, file.path);
  const mode = Number.parseInt(file.permissions, 8);
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  // Written beside and renamed: a reader (or a crash) never sees half a file or the wrong owner.
  const tmp = join(dirname(path), `.${basename(path)}.lodge-tmp`);
  try {
    await writeFile(tmp, file.encoding === 'b64' ? Buffer.from(file.content, 'base64') : file.content, { mode: 0o600 });
    await ctx.system.chown(tmp, uid, gid);
    await chmod(tmp, mode);
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** The files with defer: false (before packages) or true (after users and packages, so their owners exist). */
export async function writeFiles(ctx: StepContext, deferred: boolean): Promise<void> {
  const files = ctx.config.write_files.filter((f) => (f.defer ?? false) === deferred);
  if (files.length === 0) return;
  await once(ctx, 'files', deferred ? 'files-deferred' : 'files', async () => {
    for (const file of files) await tracked(ctx, 'files', file.path, () => writeOne(ctx, file));
  });
}
