// The real GuestSystem: commands spawned with a clean environment, stdin from /dev/null, output to the log.

import { spawn } from 'node:child_process';
import { appendFile, chown, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { constants } from 'node:os';
import { PROVISION_LOG_FILE, PROVISION_OUTPUT_TAIL_BYTES } from '@lodge/api/guest';
import { at, type CommandResult, type GuestSystem, type RunOptions } from './guest-system.js';
import { OutputTail } from './output-tail.js';

export class NodeSystem implements GuestSystem {
  constructor(readonly root = '/') {}

  async run(argv: string[], opts: RunOptions): Promise<CommandResult> {
    const log = opts.logAs === undefined ? undefined : at(this, PROVISION_LOG_FILE);
    if (log) {
      await mkdir(dirname(log), { recursive: true });
      await appendFile(log, `==> ${new Date().toISOString()} ${opts.logAs}: ${argv.join(' ')}\n`);
    }
    const tail = new OutputTail(PROVISION_OUTPUT_TAIL_BYTES);
    // Log writes are chained so the file keeps the output's order.
    let logged = Promise.resolve();
    const onData = (chunk: Buffer) => {
      tail.push(chunk);
      if (log) logged = logged.then(() => appendFile(log, chunk)).catch(() => undefined);
    };
    const code = await new Promise<number>((resolve) => {
      const child = spawn(argv[0] as string, argv.slice(1), { env: opts.env, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('error', (err: NodeJS.ErrnoException) => {
        onData(Buffer.from(`${argv[0]}: ${err.message}\n`));
        resolve(err.code === 'ENOENT' ? 127 : 126);
      });
      child.on('close', (status, signal) => resolve(status ?? 128 + (signal ? constants.signals[signal] : 0)));
    });
    await logged;
    if (log) await appendFile(log, `<== exit ${code}\n`);
    return { code, output: tail.bytes() };
  }

  chown(path: string, uid: number, gid: number): Promise<void> {
    return chown(path, uid, gid);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}
