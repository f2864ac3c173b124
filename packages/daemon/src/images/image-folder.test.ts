import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { publishFolder, removeStaleTemps, tempPrefix } from './image-folder.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lodge-folder-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function folderWith(name: string, content: string): Promise<string> {
  await mkdir(join(dir, name));
  await writeFile(join(dir, name, 'file'), content);
  return join(dir, name);
}

describe('publishFolder', () => {
  it('moves the temp folder into place, replacing a previous build and leaving nothing else', async () => {
    await folderWith('micro', 'old');
    await publishFolder(await folderWith(`${tempPrefix('micro')}a`, 'new'), join(dir, 'micro'));
    expect(await readFile(join(dir, 'micro', 'file'), 'utf8')).toBe('new');
    expect(await readdir(dir)).toEqual(['micro']);
  });

  it('works when there is no previous build', async () => {
    await publishFolder(await folderWith(`${tempPrefix('micro')}b`, 'first'), join(dir, 'micro'));
    expect(await readdir(dir)).toEqual(['micro']);
  });
});

describe('removeStaleTemps', () => {
  it('removes old temp folders of the recipe and keeps young ones and everything else', async () => {
    const old = await folderWith(`${tempPrefix('micro')}old`, '');
    await folderWith(`${tempPrefix('micro')}young`, '');
    await folderWith('micro', '');
    await folderWith(`${tempPrefix('other')}old`, '');
    const dayAgo = new Date(Date.now() - 24 * 3600 * 1000);
    await utimes(old, dayAgo, dayAgo);
    await utimes(join(dir, `${tempPrefix('other')}old`), dayAgo, dayAgo);
    await removeStaleTemps(dir, 'micro');
    expect((await readdir(dir)).sort()).toEqual(['.micro.tmp-young', '.other.tmp-old', 'micro']);
  });
});
