import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PID_FILE } from '@lodge/api/lite';
import { canLendFiles } from './file-lending.js';

describe('canLendFiles', () => {
  let root: string;
  beforeEach(async () => void (root = await mkdtemp(join(tmpdir(), 'lodge-lend-'))));
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('is true when the lodged of the data folder runs in our pid namespace', async () => {
    await writeFile(join(root, PID_FILE), `${process.pid}\n`);
    expect(await canLendFiles(root)).toBe(true);
  });

  it('is false without a pid file, with a pid nobody has, or with garbage in it', async () => {
    expect(await canLendFiles(root)).toBe(false);
    await writeFile(join(root, PID_FILE), '4194305\n'); // above pid_max: no such process
    expect(await canLendFiles(root)).toBe(false);
    await writeFile(join(root, PID_FILE), 'not a pid\n');
    expect(await canLendFiles(root)).toBe(false);
  });
});
