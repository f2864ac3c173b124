import { constants } from 'node:os';
import { LodgeError } from '@lodge/api';
import { execStart, execStatus } from './qga-commands.js';
import type { QgaClient } from './qga-client.js';

/** exec latency is benchmarked: poll fast first (most commands end within milliseconds), then back off. */
export const POLL_FIRST_MS = 1;
export const POLL_MAX_MS = 50;
/** qemu-ga spawns with exactly the env we pass, so a caller's env would otherwise lose PATH. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ProcessOutcome {
  exitCode: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: Buffer;
  /** qemu-ga keeps at most 16 MiB per stream. */
  truncated: boolean;
}

export interface StartRequest {
  argv: string[];
  env?: Record<string, string> | undefined;
  /** Bytes for stdin; always sent (maybe empty) so the program reads EOF, not qemu-ga's own stdin. */
  input?: Buffer;
  callTimeoutMs?: number;
}

const signalNames = new Map<number, string>();
for (const [name, num] of Object.entries(constants.signals)) if (!signalNames.has(num)) signalNames.set(num, name);

/** Name for a guest signal number (x86/arm Linux numbers match the host's). */
export const signalName = (n: number): string => signalNames.get(n) ?? `SIG${n}`;

/** Normalises 'TERM' / 'SIGTERM' to 'TERM' for kill(1); refuses anything not a known signal. */
export function killSignal(name: string): string {
  const full = name.toUpperCase().startsWith('SIG') ? name.toUpperCase() : `SIG${name.toUpperCase()}`;
  if (!(full in constants.signals)) throw new LodgeError('invalid_argument', `unknown signal "${name}"`);
  return full.slice(3);
}

export async function startProcess(client: QgaClient, req: StartRequest): Promise<number> {
  const [path, ...arg] = req.argv;
  if (path === undefined || path === '') throw new LodgeError('invalid_argument', 'exec needs a program: argv is empty');
  let env: string[] | undefined;
  if (req.env && Object.keys(req.env).length > 0) {
    const all = { PATH: DEFAULT_PATH, ...req.env };
    env = Object.entries(all).map(([k, v]) => `${k}=${v}`);
  }
  return execStart(client, { path, arg, ...(env ? { env } : {}), inputData: (req.input ?? Buffer.alloc(0)).toString('base64') }, {
    timeoutMs: req.callTimeoutMs ?? client.callTimeoutMs,
  });
}

/** Polls guest-exec-status until the process exits; `stop` ends the wait early (with stop's reason). */
export async function waitProcess(client: QgaClient, pid: number, opts: { stop?: AbortSignal; callTimeoutMs?: number } = {}): Promise<ProcessOutcome> {
  let delay = POLL_FIRST_MS;
  for (;;) {
    opts.stop?.throwIfAborted();
    const s = await execStatus(client, pid, { timeoutMs: opts.callTimeoutMs ?? client.callTimeoutMs });
    if (s.exited) {
      return {
        exitCode: Number.isInteger(s.exitcode) ? (s.exitcode as number) : null,
        signal: Number.isInteger(s.signal) ? signalName(s.signal as number) : null,
        stdout: Buffer.from(s['out-data'] ?? '', 'base64'),
        stderr: Buffer.from(s['err-data'] ?? '', 'base64'),
        truncated: s['out-truncated'] === true || s['err-truncated'] === true,
      };
    }
    await pause(delay, opts.stop);
    delay = Math.min(delay * 2, POLL_MAX_MS);
  }
}

/** Runs a helper program (cat, stat, chmod, kill) to the end within `timeoutMs`. */
export async function runProcess(client: QgaClient, argv: string[], timeoutMs = client.callTimeoutMs): Promise<ProcessOutcome> {
  const stop = AbortSignal.timeout(timeoutMs);
  const pid = await startProcess(client, { argv, callTimeoutMs: timeoutMs });
  try {
    return await waitProcess(client, pid, { stop, callTimeoutMs: timeoutMs });
  } catch (err) {
    if (stop.aborted) throw new LodgeError('timeout', `guest helper "${argv.join(' ')}" did not finish within ${timeoutMs} ms`);
    throw err;
  }
}

/** Like runProcess, but a non-zero exit is an error carrying the program's stderr. */
export async function runChecked(client: QgaClient, argv: string[], timeoutMs = client.callTimeoutMs): Promise<Buffer> {
  const r = await runProcess(client, argv, timeoutMs);
  if (r.exitCode === 0) return r.stdout;
  const why = r.stderr.toString('utf8').trim() || (r.signal ? `killed by ${r.signal}` : `exit code ${r.exitCode}`);
  throw new LodgeError(/No such file/.test(why) ? 'not_found' : 'qemu_failed', `guest "${argv.join(' ')}" failed: ${why}`);
}

function pause(ms: number, stop: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stop?.aborted) return reject(stop.reason as Error);
    const onStop = (): void => {
      clearTimeout(timer);
      reject(stop?.reason as Error);
    };
    const timer = setTimeout(() => {
      stop?.removeEventListener('abort', onStop);
      resolve();
    }, ms);
    stop?.addEventListener('abort', onStop, { once: true });
  });
}
