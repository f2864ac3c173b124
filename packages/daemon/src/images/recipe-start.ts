import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageEntry, ImageInfo } from '@lodge/api';
import { publishFolder } from './image-folder.js';
import { loadAgentFiles, type AgentFiles } from './agent-files.js';
import { readManifest } from './image-manifest.js';

/** What every recipe's build takes. */
export interface BuildImageOptions {
  imagesDir: string;
  force?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: { step: string; percent?: number }) => void;
  /** Called before an existing image would be replaced; throwing stops the build (VMs may be based on it). */
  beforeReplace?: (why: string) => void;
  /**
   * Folder holding the Lodge agent's lodge-agent.mjs and lodge-guest.mjs; default: $LODGE_AGENT_DIR, else the
   * built @lodge/agent package.
   */
  agentDir?: string;
}

export type BuildProgress = (step: string, percent: number) => void;

/**
 * What every recipe does first: its hash from its texts and the agent files, a cache hit when the built image has
 * that hash (no apt lookup at all), else the go-ahead to build (after beforeReplace had its say).
 */
export async function startRecipe(
  name: string,
  hashOf: (agent: AgentFiles) => string,
  opts: BuildImageOptions,
): Promise<{ cached: { image: ImageEntry; cached: true } } | { folder: string; hash: string; agent: AgentFiles; progress: BuildProgress }> {
  const { signal } = opts;
  const folder = join(opts.imagesDir, name);
  signal?.throwIfAborted();
  const agent = await loadAgentFiles(opts.agentDir ?? process.env.LODGE_AGENT_DIR);
  const hash = hashOf(agent);
  const existing = await readManifest(folder);
  if (!opts.force && existing?.recipeHash === hash) return { cached: { image: { ...existing, folder }, cached: true } };
  if (existing) opts.beforeReplace?.(opts.force ? 'a forced rebuild' : 'its recipe changed');
  // Every step boundary is also an abort point, so fs-only stretches stop promptly too.
  const progress: BuildProgress = (step, percent) => {
    signal?.throwIfAborted();
    opts.onProgress?.({ step, percent });
  };
  return { folder, hash, agent, progress };
}

/**
 * What every recipe does last: swaps the finished temp folder in and answers with the published image. Another
 * process that published the same recipe between our two renames is as good as ours.
 */
export async function publishRecipe(o: { tmp: string; folder: string; hash: string; info: ImageInfo; opts: BuildImageOptions }): Promise<{ image: ImageEntry; cached: false }> {
  o.opts.signal?.throwIfAborted();
  await publishFolder(o.tmp, o.folder).catch(async (err: NodeJS.ErrnoException) => {
    if ((err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') || (await readManifest(o.folder))?.recipeHash !== o.hash) throw err;
    await rm(o.tmp, { recursive: true, force: true });
  });
  o.opts.onProgress?.({ step: 'done', percent: 100 });
  return { image: { ...((await readManifest(o.folder)) ?? o.info), folder: o.folder }, cached: false };
}
