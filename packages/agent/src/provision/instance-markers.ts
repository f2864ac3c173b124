// Per-instance markers under PROVISION_STATE_DIR/<instance-id>/: a step's marker is written only after it
// succeeded, so a done step never runs again for this instance and a failed one runs at the next boot.

import { mkdir, open, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PROVISION_STATE_DIR } from '@lodge/api/guest';
import { at, type GuestSystem } from './guest-system.js';

async function syncedWrite(path: string, text: string): Promise<void> {
  const file = await open(path, 'w', 0o600);
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
}

export class InstanceMarkers {
  private readonly dir: string;

  constructor(system: Pick<GuestSystem, 'root'>, instanceId: string) {
    this.dir = join(at(system, PROVISION_STATE_DIR), instanceId);
  }

  async isDone(marker: string): Promise<boolean> {
    return (await stat(join(this.dir, marker)).catch(() => undefined))?.isFile() ?? false;
  }

  /** Synced (file and folder): a VM powered off right after a script must not run it again. */
  async markDone(marker: string): Promise<void> {
    // Parents 0755 (mkdir -p would give them the 0700 too, and user-mode scripts live beside the state folder).
    await mkdir(dirname(this.dir), { recursive: true, mode: 0o755 });
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await syncedWrite(join(this.dir, marker), `${new Date().toISOString()}\n`);
    const dir = await open(this.dir, 'r');
    await dir.sync().finally(() => dir.close());
  }
}
