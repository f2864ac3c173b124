import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** For tests: a stand-in for qemu-system that runs a shell body, ignoring QEMU's arguments. */
export async function fakeQemu(dir: string, name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}
