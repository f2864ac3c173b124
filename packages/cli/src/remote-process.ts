import type { ExecStart } from '@lodge/api/lite';
import type { ExecOutcome, ExecSession, LodgeClient } from '@lodge/client';
import { exitCodeOf } from './exit-status.js';
import { LocalTerminal } from './local-terminal.js';
import { sinkTo } from './stream-sink.js';

/** Signals of the CLI that are meant for the guest process, as ssh passes them on. */
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** A signal repeated within this long escalates: first to SIGKILL, then the CLI gives up waiting. */
const ESCALATE_MS = 1000;

type Undo = () => void;

/** SIGINT/SIGTERM/SIGHUP go to the guest; again within 1 s sends SIGKILL; a third time hangs up with 128+N. */
function forwardSignals(exec: ExecSession, giveUp: (signal: NodeJS.Signals) => void): Undo {
  let lastAt = 0;
  let strikes = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    const now = Date.now();
    strikes = now - lastAt <= ESCALATE_MS ? strikes + 1 : 1;
    lastAt = now;
    if (strikes === 1) exec.signal(signal);
    else if (strikes === 2) exec.signal('SIGKILL');
    else giveUp(signal);
  };
  for (const s of FORWARDED) process.on(s, onSignal);
  return () => FORWARDED.forEach((s) => process.off(s, onSignal));
}

/** Local stdin to the guest, one chunk at a time: reading pauses until the socket took the last chunk. */
function pumpStdin(exec: ExecSession, stdin: NodeJS.ReadStream): Undo {
  let stopped = false;
  const onData = (chunk: Buffer): void => {
    stdin.pause();
    exec.writeStdin(chunk).then(
      () => void (stopped || stdin.resume()),
      () => undefined, // the session's result reports what went wrong
    );
  };
  const onEnd = (): void => exec.endStdin();
  stdin.on('data', onData).on('end', onEnd).on('error', onEnd).resume();
  return () => {
    stopped = true;
    stdin.off('data', onData).off('end', onEnd).off('error', onEnd).pause();
  };
}

/**
 * Runs a process in the guest wired to this terminal or these pipes; resolves with the exit code the CLI should use.
 * With a tty the local terminal is raw (restored on every path, before any error is printed).
 */
export async function runInGuest(client: LodgeClient, vm: string, start: ExecStart, terminal = new LocalTerminal()): Promise<number> {
  const interactive = start.tty !== undefined;
  const eol = interactive && terminal.stdinIsTty ? '\r\n' : '\n';
  const exec = await client.exec(vm, start, {
    stdout: sinkTo(process.stdout),
    stderr: sinkTo(process.stderr),
    started: ({ note }) => void (note && process.stderr.write(`lodge: ${note}${eol}`)),
  });
  let gaveUp: NodeJS.Signals | undefined;
  const undo: Undo[] = [];
  let outcome: ExecOutcome;
  try {
    if (interactive) {
      terminal.enterRaw();
      undo.push(() => terminal.restore());
      undo.push(terminal.onResize((rows, cols) => exec.resize(rows, cols)));
    }
    undo.push(forwardSignals(exec, (signal) => ((gaveUp = signal), exec.close())));
    if (start.stdin) undo.push(pumpStdin(exec, process.stdin));
    outcome = await exec.result.catch((err: unknown) => {
      if (gaveUp) return { exitCode: null, signal: gaveUp, timedOut: false };
      throw err;
    });
  } finally {
    for (const u of undo.reverse()) u();
  }
  if (gaveUp) process.stderr.write(`lodge: stopped waiting for ${start.argv[0] ?? 'the command'} in ${vm}; it may still run\n`);
  else if (outcome.timedOut) process.stderr.write(`lodge: ${start.argv[0] ?? 'the command'} in ${vm} timed out after ${(start.timeoutMs ?? 0) / 1000} s\n`);
  return exitCodeOf(outcome);
}
