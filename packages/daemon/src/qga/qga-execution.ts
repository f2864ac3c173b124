import { LodgeError, type ExecStart } from '@lodge/api';
import type { ExecResult } from '@lodge/api/guest';
import type { ExecSinks, GuestExecution } from '../ports/guest-channel.js';
import { killSignal, runProcess, startProcess, waitProcess, type ProcessOutcome } from './guest-process.js';
import type { QgaClient } from './qga-client.js';
import { needsAgent } from './qga-errors.js';
import type { QgaLogger } from './qga-logger.js';

/** qemu-ga takes stdin whole at start (input-data), so we hold it in memory: keep that bounded. */
export const MAX_STDIN_BYTES = 1024 * 1024;
const OUTPUT_CHUNK = 64 * 1024;

/**
 * One program run through guest-exec: buffered, not streamed. Stdin (if asked for) is collected until endStdin(),
 * output reaches the sinks after the exit. QGA cannot signal a process, so signals, cancel and timeouts run
 * `kill` in the guest through guest-exec (which needs a kill(1) there; children of the program are not killed).
 */
export class QgaExecution implements GuestExecution {
  readonly pid: Promise<number>;
  readonly result: Promise<ExecResult>;
  readonly #client: QgaClient;
  readonly #log: QgaLogger;
  readonly #request: ExecStart;
  readonly #stdin: Buffer[] = [];
  #stdinBytes = 0;
  #stdinOpen: boolean;
  #gate!: { open: () => void; fail: (err: Error) => void };
  #pidValue: number | undefined;
  #cancelled = false;
  #timedOut = false;
  /** Settled: signals and cancel have nothing left to kill (and the pid may be reused). */
  #exited = false;
  /** Aborted when a kill could not even be started: polling would otherwise wait for an exit that may never come. */
  readonly #giveUp = new AbortController();

  constructor(client: QgaClient, request: ExecStart, sinks: ExecSinks, log: QgaLogger) {
    this.#client = client;
    this.#log = log;
    this.#request = request;
    this.#stdinOpen = request.stdin === true;
    const gate = new Promise<void>((open, fail) => (this.#gate = { open, fail }));
    if (!this.#stdinOpen) this.#gate.open();
    const started = this.#start(gate, sinks);
    this.pid = started;
    this.result = started.then((pid) => this.#finish(pid, sinks)).finally(() => (this.#exited = true));
    // Callers may only ever await one of the two; the other must not become an unhandled rejection.
    this.pid.catch(() => {});
    this.result.catch(() => {});
  }

  writeStdin(chunk: Buffer): Promise<void> {
    if (this.#request.stdin !== true) return Promise.reject(new LodgeError('invalid_argument', 'stdin was not requested for this exec (stdin: true)'));
    if (!this.#stdinOpen) return Promise.reject(needsAgent('writing stdin once the program started (qemu-ga takes stdin whole, at start)'));
    if (this.#stdinBytes + chunk.length > MAX_STDIN_BYTES) {
      return Promise.reject(new LodgeError('invalid_argument', `stdin through the QEMU guest agent is limited to ${MAX_STDIN_BYTES} bytes`, {
        hint: 'streaming stdin needs the Lodge agent',
      }));
    }
    this.#stdin.push(Buffer.from(chunk));
    this.#stdinBytes += chunk.length;
    return Promise.resolve();
  }

  endStdin(): void {
    if (!this.#stdinOpen) return;
    this.#stdinOpen = false;
    this.#gate.open();
  }

  signal(name: string): void {
    const sig = killSignal(name);
    void this.pid.then((pid) => (this.#exited ? undefined : this.#kill(pid, sig)), () => {});
  }

  /** No terminal under QGA (tty is refused up front), so there is nothing to resize. */
  resize(): void {}

  cancel(): void {
    if (this.#cancelled || this.#exited) return;
    this.#cancelled = true;
    this.#stdinOpen = false;
    if (this.#pidValue === undefined) this.#gate.fail(new LodgeError('invalid_state', 'exec cancelled before the program started'));
    else void this.#kill(this.#pidValue, 'KILL');
  }

  async #start(gate: Promise<void>, sinks: ExecSinks): Promise<number> {
    const r = this.#request;
    if (r.tty) throw needsAgent('a terminal (tty)');
    if (r.cwd !== undefined) throw needsAgent('choosing the working folder (cwd)');
    if (r.user !== undefined) throw needsAgent('running as another user');
    await gate;
    const pid = await startProcess(this.#client, { argv: r.argv, env: r.env, input: Buffer.concat(this.#stdin) });
    this.#stdin.length = 0;
    this.#pidValue = pid;
    sinks.started?.(pid);
    if (this.#cancelled) void this.#kill(pid, 'KILL'); // cancel() raced with guest-exec
    return pid;
  }

  async #finish(pid: number, sinks: ExecSinks): Promise<ExecResult> {
    const { timeoutMs } = this.#request;
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
      this.#timedOut = true;
      void this.#kill(pid, 'KILL');
    }, timeoutMs);
    let outcome: ProcessOutcome;
    try {
      outcome = await waitProcess(this.#client, pid, { stop: this.#giveUp.signal });
    } catch (err) {
      if (!this.#giveUp.signal.aborted) throw err;
      if (this.#timedOut) return { exitCode: null, signal: null, timedOut: true };
      throw this.#giveUp.signal.reason;
    } finally {
      clearTimeout(timer);
    }
    if (outcome.truncated) this.#log.warn({ pid, argv: this.#request.argv }, 'qemu-ga truncated exec output at 16 MiB');
    await deliver(sinks, 1, outcome.stdout);
    await deliver(sinks, 2, outcome.stderr);
    return { exitCode: outcome.exitCode, signal: outcome.signal, timedOut: this.#timedOut };
  }

  async #kill(pid: number, sig: string): Promise<void> {
    try {
      const r = await runProcess(this.#client, ['kill', `-${sig}`, String(pid)]);
      // Non-zero usually means the process is already gone; polling will see its exit.
      if (r.exitCode !== 0) this.#log.debug({ pid, sig, stderr: r.stderr.toString() }, 'guest kill did not succeed');
    } catch (err) {
      this.#log.warn({ pid, sig, err }, 'cannot run kill in the guest through qemu-ga');
      if (sig === 'KILL') {
        this.#giveUp.abort(new LodgeError('qemu_failed', `cannot kill guest process ${pid}: ${(err as Error).message}`, {
          hint: 'the QEMU guest agent cannot signal processes itself; it runs kill(1), which must exist in the guest',
        }));
      }
    }
  }
}

async function deliver(sinks: ExecSinks, channel: 1 | 2, bytes: Buffer): Promise<void> {
  for (let at = 0; at < bytes.length; at += OUTPUT_CHUNK) {
    const chunk = bytes.subarray(at, at + OUTPUT_CHUNK);
    await new Promise<void>((done) => sinks.output(channel, chunk, done));
  }
}
