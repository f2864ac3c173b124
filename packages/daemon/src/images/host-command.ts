import { execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Transform } from 'node:stream';
import { LodgeError } from '@lodge/api';

export interface CommandOptions {
  cwd?: string;
  signal?: AbortSignal;
}

/** Runs a host program with an argument array (never a shell) and returns its stdout; abort kills it. */
export function runCommand(file: string, args: string[], opts: CommandOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { cwd: opts.cwd, signal: opts.signal, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } },
      (err, stdout, stderr) => {
        if (err) reject(commandError(file, args, err, stderr, opts.signal));
        else resolve(stdout);
      },
    );
  });
}

export interface PipeOptions extends CommandOptions {
  /** Written to the program's stdin, then closed. */
  input: string;
  /** Where stdout goes, optionally through a transform (e.g. gzip). */
  outputFile: string;
  transform?: Transform;
}

/** Runs a program feeding it `input` and streaming its stdout into a file, without buffering it in memory. */
export async function pipeCommand(file: string, args: string[], opts: PipeOptions): Promise<void> {
  const child = spawn(file, args, { cwd: opts.cwd, signal: opts.signal, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4096)));
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (err) => reject(commandError(file, args, err, stderr, opts.signal)));
    child.once('close', (code, sig) => {
      if (code === 0) resolve();
      else reject(commandError(file, args, Object.assign(new Error(`exit ${code ?? sig}`), { code }), stderr, opts.signal));
    });
  });
  exited.catch(() => undefined); // observed below; avoids an unhandled rejection while the pipeline runs
  child.stdin.on('error', () => undefined); // EPIPE when the program dies early is reported through its exit status
  child.stdin.end(opts.input);
  const out = createWriteStream(opts.outputFile);
  const streams = opts.transform ? pipeline(child.stdout, opts.transform, out) : pipeline(child.stdout, out);
  const [piped] = await Promise.allSettled([streams, exited]);
  await exited;
  if (piped.status === 'rejected') throw LodgeError.from(piped.reason);
}

function commandError(file: string, args: string[], err: unknown, stderr: string, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason;
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
    return new LodgeError('host_unsupported', `${file} is not installed on this host`, {
      hint: `install the Debian package that provides ${file}`,
      cause: err,
    });
  }
  const lines = stderr.trim().split('\n');
  // A full disk is often reported early and followed by the tool's own follow-up errors: keep that line.
  const noSpace = lines.find((l) => /No space left on device/i.test(l));
  const lastLines = [...(noSpace && !lines.slice(-3).includes(noSpace) ? [noSpace] : []), ...lines.slice(-3)].join(' | ');
  return new LodgeError('internal', `${file} ${args.join(' ')} failed: ${lastLines || String(err)}`, {
    details: { program: file, args },
    cause: err,
  });
}
