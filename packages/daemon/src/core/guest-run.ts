import { LodgeError } from '@lodge/api';
import type { GuestService } from './guest-service.js';

export interface GuestRunResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

const OUTPUT_LIMIT = 64 * 1024;

/** Runs a short program in the guest through its agent and collects its output (capped): for daemon-side follow-ups. */
export async function runInGuest(guest: GuestService, vm: string, argv: string[], timeoutMs = 30_000): Promise<GuestRunResult> {
  const out: Record<1 | 2, Buffer[]> = { 1: [], 2: [] };
  let size = 0;
  await guest.reachable(vm);
  const { execution } = guest.exec(vm, { argv, timeoutMs }, {
    output: (channel, chunk, done) => {
      if (size < OUTPUT_LIMIT) out[channel].push(chunk);
      size += chunk.length;
      done();
    },
  });
  const result = await execution.result;
  if (result.timedOut) throw new LodgeError('timeout', `"${argv.join(' ')}" did not finish in the guest of "${vm}" within ${timeoutMs / 1000} s`);
  return { exitCode: result.exitCode, stdout: Buffer.concat(out[1]).toString(), stderr: Buffer.concat(out[2]).toString() };
}

/** Runs through the guest agent, or says why it could not, as a note for the user (never throws). */
export async function guestNote(guest: GuestService, vm: string, argv: string[], what: string): Promise<string | undefined> {
  try {
    const r = await runInGuest(guest, vm, argv);
    if (r.exitCode === 0) return undefined;
    return `${what} failed in the guest (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().slice(-300)}`;
  } catch (err) {
    return `${what} was not done in the guest: ${(err as Error).message}`;
  }
}
