// exec: runs a program (or a terminal session) and streams stdin/stdout/stderr with the stream's credit.

import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import type { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { Channel, type ExecResult, type Stream } from '@lodge/api/guest';
import { buildEnv, parseExecRequest, parseSignal } from './exec-request.js';
import { ExecTrace } from './exec-trace.js';
import { describe, logError, trace, tracing } from './log.js';
import { OpError } from './op-error.js';
import type { OpContext } from './op-context.js';
import { relayOutputs } from './output-relay.js';
import { findProgram } from './program-path.js';
import { PtyHandle, planPty } from './pty-op.js';
import { SpawnedChild } from './spawned-child.js';
import { currentUser, lookupUser, supplementaryGroups } from './user-db.js';
import type { Fields } from './validate.js';

let ptySeq = 0;

export async function runExec(stream: Stream, fields: Fields, ctx: OpContext): Promise<void> {
  const tr = tracing ? new ExecTrace() : undefined;
  const request = parseExecRequest(fields);
  tr?.mark('parsed');
  const user = request.user !== undefined ? lookupUser(request.user, ctx.userDb) : currentUser(ctx.userDb);
  tr?.mark('user');
  const env = buildEnv(request, user);
  // One stat: the home folder when the request names no cwd ('/' if it is missing), else the named one.
  const cwd = request.cwd ?? (isDir(user.home) ? user.home : '/');
  if (request.cwd !== undefined && !isDir(cwd)) throw new OpError('not_found', `cwd ${cwd}: no such folder in the guest`);
  tr?.mark('cwd');
  const argv0 = request.argv[0] as string;
  let command = argv0;
  let args = request.argv.slice(1);
  let pty: PtyHandle | undefined;
  if (request.tty) {
    if (!findProgram(argv0, env.PATH, cwd)) throw notFound(argv0, env.PATH);
    const owner = request.user !== undefined ? { owner: { uid: user.uid, gid: user.gid } } : {};
    const plan = planPty({ ...request.tty, argv: request.argv, shell: user.shell, ptyDir: ctx.ptyDir, id: `${process.pid}-${++ptySeq}`, pathVar: env.PATH ?? '', ...owner });
    ({ command, args } = plan);
    pty = new PtyHandle(plan.pidFile, plan.statusFile);
    env.SHELL = '/bin/sh';
  }
  const asUser = request.user !== undefined ? { uid: user.uid, gid: user.gid } : {};
  let child: ExecChild;
  if (!pty && ctx.spawner?.usable()) {
    const groups = request.user !== undefined ? { user: { uid: user.uid, gid: user.gid, groups: supplementaryGroups(user, ctx.userDb) } } : {};
    child = ctx.spawner.spawn({ argv: request.argv, env, cwd, stdin: request.stdin ?? false, ...groups }, tr);
  } else {
    // Node cannot set supplementary groups: libuv drops them when uid/gid are given.
    child = spawn(command, args, {
      env, cwd, ...asUser, detached: pty !== undefined,
      stdio: [request.stdin || pty ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
  }
  try {
    tr?.mark(child instanceof SpawnedChild ? 'asked lodge-spawn' : 'node spawned');
    await supervise({ stream, child, pty, argv0, pathVar: env.PATH ?? '', timeoutMs: request.timeoutMs, stdin: request.stdin ?? false, tr });
  } finally {
    pty?.dispose();
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function notFound(argv0: string, pathVar: string | undefined): OpError {
  return new OpError('not_found', `${argv0}: not found in the guest (PATH=${pathVar ?? ''})`, 127);
}

/** What exec needs of a child: Node's ChildProcess (PTY sessions, images without lodge-spawn) or a SpawnedChild. */
type ExecChild = EventEmitter & {
  readonly pid?: number | undefined;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  kill(signal?: NodeJS.Signals): boolean;
};

interface Supervised {
  stream: Stream;
  child: ExecChild;
  pty: PtyHandle | undefined;
  argv0: string;
  pathVar: string;
  timeoutMs: number | undefined;
  stdin: boolean;
  /** When tracing: the exec's timing marks. */
  tr: ExecTrace | undefined;
}

async function supervise(s: Supervised): Promise<void> {
  const { stream, child, pty } = s;
  let timedOut = false;
  let cancelled = false;
  const kill = (): void => {
    if (pty) pty.killAll();
    try {
      if (pty && child.pid) process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
    } catch {
      // gone already
    }
  };
  stream.on('done', (outcome) => {
    if ('error' in outcome) {
      cancelled = true;
      if (child.pid) kill();
    }
  });
  let running = false;
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', () => {
      running = true;
      resolve();
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (running) return;
      if (error instanceof OpError) reject(error);
      else if (error.code === 'ENOENT') reject(notFound(s.argv0, s.pathVar));
      else if (error.code === 'EACCES') reject(new OpError('permission_denied', `${s.argv0}: permission denied in the guest`, 126));
      else reject(new OpError('internal', `${s.argv0}: ${error.message}`, 126));
    });
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      s.tr?.mark('exit event');
      resolve({ code, signal });
    });
    // Only lodge-spawn's death ends a running child with an error: its exit status is lost, so the exec fails.
    if (child instanceof SpawnedChild) {
      child.on('error', (error: Error) => running && reject(error));
      child.exitWithSpawn = true;
    }
  });
  exited.catch(() => undefined); // awaited below; not unhandled meanwhile
  // Listen before the first await: input the host sends right after Open must not be lost.
  wireInput(s);
  await spawned;
  s.tr?.mark('spawn event');
  if (cancelled) kill();
  else stream.control({ type: 'started', pid: child.pid });
  void pty?.ready();
  const timer = s.timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    kill();
  }, s.timeoutMs);
  try {
    const outputs =
      child instanceof SpawnedChild
        ? [relayOutputs(stream, child, kill, s.tr)]
        : [
            pump(stream, child.stdout as Readable, Channel.Output, kill).then(() => s.tr?.mark('stdout ended')),
            pump(stream, child.stderr as Readable, Channel.Error, kill).then(() => s.tr?.mark('stderr ended')),
          ];
    const [exit] = await Promise.all([exited, ...outputs]);
    if (cancelled || stream.finished) return;
    const recorded = pty?.recordedStatus();
    const result: ExecResult = recorded === undefined ? { exitCode: exit.code, signal: exit.signal, timedOut } : { exitCode: recorded, signal: null, timedOut };
    stream.finish(result);
    if (s.tr) {
      s.tr.mark('finish');
      trace(`exec ${s.argv0}: ${s.tr.line()}`);
    }
  } finally {
    if (timer) clearTimeout(timer);
    child.stdin?.destroy();
  }
}

/** Host Data ch 0 → stdin (credit back after the pipe took it), Close ch 0 → EOF, Control → signal/resize. */
function wireInput({ stream, child, pty, stdin }: Supervised): void {
  const input = child.stdin;
  input?.on('error', () => undefined);
  stream.on('data', (channel, chunk) => {
    if (channel !== Channel.Input || !input || (!stdin && !pty)) stream.consumed(channel, chunk.length);
    else input.write(chunk, () => stream.consumed(channel, chunk.length));
  });
  stream.on('end', (channel) => {
    if (channel !== Channel.Input || !input) return;
    // A terminal has no end of input of its own: script would keep the program waiting, so type Ctrl-D as a user would.
    if (pty) input.write('\x04');
    input.end();
  });
  let resizing = Promise.resolve();
  stream.on('control', (message) => {
    const m = message as { type?: unknown; signal?: unknown; rows?: unknown; cols?: unknown } | null;
    try {
      if (m?.type === 'signal') {
        const signal = parseSignal(m.signal);
        if (!pty?.signal(signal)) child.kill(signal);
      } else if (m?.type === 'resize' && pty) {
        const { rows, cols } = m;
        if (!Number.isInteger(rows) || !Number.isInteger(cols)) throw new OpError('invalid_argument', 'resize needs integer rows and cols');
        resizing = resizing.then(() => pty.resize(rows as number, cols as number));
      }
    } catch (error) {
      logError(`exec control ignored: ${describe(error)}`);
    }
  });
}

/** Bytes of child output handed to the stream but not yet sent within credit; above it the child's pipe pauses. */
const PUMP_HIGH_WATER = 256 * 1024;

/** Child output → stream channel; the pipe pauses while too much waits for credit, so a slow host slows the child. */
function pump(stream: Stream, output: Readable, channel: Channel, kill: () => void): Promise<void> {
  return new Promise((resolve) => {
    // A lodge-spawn pipe whose program wrote nothing may have ended (or failed) before we got here.
    if (output.readableEnded || output.destroyed) {
      if (!stream.finished && output.readableEnded) stream.end(channel);
      return resolve();
    }
    let inFlight = 0;
    let last: Promise<void> = Promise.resolve();
    output.on('data', (chunk: Buffer) => {
      inFlight += chunk.length;
      if (inFlight >= PUMP_HIGH_WATER) output.pause();
      last = stream.write(channel, chunk).then(
        () => {
          inFlight -= chunk.length;
          if (output.isPaused() && inFlight < PUMP_HIGH_WATER / 2) output.resume();
        },
        () => {
          kill();
          output.destroy();
          resolve();
        },
      );
    });
    output.resume(); // flowing even if someone paused it before us
    output.once('end', () => {
      // Writes complete in order: the last one done means all output is handed over.
      void last.then(() => {
        if (!stream.finished) stream.end(channel);
        resolve();
      });
    });
    output.once('error', () => resolve());
    output.once('close', () => void last.then(() => resolve()));
  });
}
