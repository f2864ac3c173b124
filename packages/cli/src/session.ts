import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { dataRootFor } from '@lodge/api/lite';
import type { LodgeClient } from '@lodge/client';

/** What every command shares: output mode and the (lazily started) daemon connection. */
export class Session {
  /** --json: stdout carries only machine-readable data. */
  json = false;
  private client: Promise<LodgeClient> | undefined;

  constructor(readonly env: NodeJS.ProcessEnv = process.env) {}

  get root(): string {
    return resolve(dataRootFor({ env: this.env, uid: process.getuid?.(), home: homedir() }));
  }

  /** The client of a daemon that answers, starting one on demand; loaded lazily so help and usage errors stay fast. */
  connect(): Promise<LodgeClient> {
    this.client ??= import('./daemon-starter.js').then((m) => m.connectOrStart({ root: this.root, env: this.env }));
    return this.client;
  }

  /** Data on stdout: JSON with --json, else the human text (which may need a lazily loaded renderer). */
  async emit(data: unknown, human: () => string | Promise<string>): Promise<void> {
    const text = this.json ? JSON.stringify(data, null, 2) : await human();
    if (text !== '') process.stdout.write(`${text}\n`);
  }

  /** A human confirmation on stdout, left out with --json where the data says it all. */
  say(line: string): void {
    if (!this.json) process.stdout.write(`${line}\n`);
  }

  /** Side remarks (progress, notes) go to stderr, never into data. */
  note(line: string): void {
    if (!this.json) process.stderr.write(`${line}\n`);
  }
}
