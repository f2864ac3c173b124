// What operations may use besides their stream: configured paths and the agent's bus.

import type { Bus } from './bus.js';
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
