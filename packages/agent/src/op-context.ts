// What operations may use besides their stream: configured paths and the agent's bus.

import { BASE_PAYLOAD } from '@lodge/api/guest';
import type { Bus } from './bus.js';
import type { FilePlane } from './file-plane.js';
import type { Spawner } from './spawner.js';
import type { UserDbPaths } from './user-db.js';

export interface OpContext {
  /** Where terminal sessions record their pid (`--pty-dir`, default /run/lodge/pty). */
  ptyDir: string;
  userDb?: UserDbPaths;
  bus: Bus;
  /** lodge-spawn, when the image has it: exec's children start through it (PTY sessions keep Node's spawn). */
  spawner?: Spawner;
  /** Runs a system command (date, poweroff); tests replace it. */
  run(command: string, args: string[]): Promise<{ code: number | null; stderr: string }>;
}

/** What an operation may use of the line (port or vsock session) its stream came on. */
export interface LineContext {
  /** lodge-port's data plane, when this line runs through it: files' bytes then go in C. */
  plane: FilePlane | undefined;
  /** The largest Data payload the host takes (its Hello). */
  peerMaxPayload: number;
  /** The host's Hello features (FEATURE_PUT_READY: it waits for `ready` before a big file's bytes). */
  peerFeatures: readonly string[];
}

/** A line with no data plane and a host that announced nothing: what every version-1 host takes. */
export const NO_LINE: LineContext = { plane: undefined, peerMaxPayload: BASE_PAYLOAD, peerFeatures: [] };
