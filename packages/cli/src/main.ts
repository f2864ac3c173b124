#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node
// Node reads NODE_EXTRA_CA_CERTS before any code runs (~40 ms for a 220 KB bundle on every command); lodge uses no TLS.
import { CommanderError } from 'commander';
import { printError } from './error-printer.js';
import { exitFlushed } from './process-exit.js';
import { buildProgram, fromCommander } from './program.js';
import { Session } from './session.js';

async function main(argv: string[]): Promise<number> {
  const session = new Session();
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0); // `lodge list | head` is not an error
  });
  const program = buildProgram(session);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (err) {
    const shown = err instanceof CommanderError ? fromCommander(err, { program, argv }) : err;
    if (typeof shown === 'number') return shown;
    return printError(shown, session.json || argv.includes('--json'));
  }
}

main(process.argv.slice(2)).then(exitFlushed, (err: unknown) => exitFlushed(printError(err, false)));
