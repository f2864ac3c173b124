import { setTimeout as sleepFor } from 'node:timers/promises';
import { LodgeError, parseProvisionLine, type LodgeEventBody, type Progress, type VmSpec, type VmState } from '@lodge/api';
import { PROVISION_PROGRESS_FILE, scriptNameOf, type ProvisionRecord } from '@lodge/api/guest';
import type { FileRange, FileWindow } from '../ports/guest-channel.js';
import type { GuestLog } from './guest-connection.js';
import { provisionDeadlineSec, WATCH_LIMITS, type WatchLimits } from './provision-limits.js';
import { ProvisionLines } from './provision-lines.js';
import { progressStep, provisionFailure, stepLabel } from './provision-report.js';

export interface ProvisionWatch {
  vm: string;
  spec: Pick<VmSpec, 'provision' | 'packages'>;
  /** A window of the guest's progress file; rejects with not_found while it is missing. */
  read(range: FileRange, signal?: AbortSignal): Promise<FileWindow>;
  publish(event: Extract<LodgeEventBody, { type: 'vm.provision' }>): void;
  progress(p: Progress): void;
  stateOf(): VmState | undefined;
  log: GuestLog;
  limits?: Partial<WatchLimits>;
  /** Seams for tests (a fake clock); default: real time. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const fail = (message: string, hint: string): LodgeError => new LodgeError('provision_failed', message, { hint });

/**
 * Follows the guest's first-boot provisioning (PROVISION_PROGRESS_FILE) until its done line: each record becomes a
 * vm.provision event and a progress step. Resolves when it succeeded; throws provision_failed otherwise.
 */
export async function followProvisioning(w: ProvisionWatch): Promise<void> {
  const lim = { ...WATCH_LIMITS, ...w.limits };
  const now = w.now ?? Date.now;
  const sleep = w.sleep ?? ((ms: number) => sleepFor(ms));
  const deadlineSec = provisionDeadlineSec(w.spec);
  const t0 = now();
  const lines = new ProvisionLines();
  let offset = 0;
  let seen = false;
  let records = 0;
  let garbage = 0;
  let last: ProvisionRecord | undefined;
  let failed: ProvisionRecord | undefined;
  let readError: unknown;
  const logHint = `look at the guest's provisioning with: lodge exec ${w.vm} -- journalctl -u lodge-provision`;

  w.progress({ step: 'provisioning: waiting for the guest to report' });
  for (;;) {
    const state = w.stateOf();
    if (state !== 'running' && state !== 'paused') {
      throw new LodgeError('invalid_state', `VM "${w.vm}" is ${state ?? 'gone'}: it stopped before its provisioning finished`, { hint: `start it again with: lodge start ${w.vm}` });
    }
    const elapsed = now() - t0;
    if (elapsed > deadlineSec * 1000) {
      const at = last ? `; the last step reported: ${stepLabel(last, w.spec)} (${last.status})` : '';
      throw fail(`provisioning of VM "${w.vm}" did not finish within ${deadlineSec} s${at}`, `the VM is still running; ${logHint}`);
    }
    let window: FileWindow | undefined;
    try {
      window = await w.read({ offset, maxBytes: lim.readBytes });
      readError = undefined;
    } catch (err) {
      readError = err;
      if (!(err instanceof LodgeError && err.code === 'not_found')) w.log.warn({ vm: w.vm, err: (err as Error).message }, 'reading the provisioning report failed; retrying');
    }
    if (!window) {
      if (!seen && elapsed > lim.firstReportMs) {
        const why = readError instanceof LodgeError && readError.code === 'not_found' ? `${PROVISION_PROGRESS_FILE} does not exist` : `reading ${PROVISION_PROGRESS_FILE} failed: ${(readError as Error).message}`;
        throw fail(`the guest of VM "${w.vm}" did not report any provisioning within ${Math.round(lim.firstReportMs / 1000)} s of being ready (${why})`,
          `the image's lodge-provision service may not have run; the VM is still running; ${logHint}`);
      }
      await sleep(lim.pollMs);
      continue;
    }
    seen = true;
    if (window.size < offset) {
      // The file started over: the provisioner ran again (a reboot during provisioning); follow the new run.
      offset = 0;
      lines.reset();
      continue;
    }
    offset += window.data.length;
    if (offset > lim.maxReportBytes) {
      throw fail(`the guest of VM "${w.vm}" wrote over ${lim.maxReportBytes} bytes of provisioning report; stopped following it`, `the VM is still running; ${logHint}`);
    }
    for (const text of lines.push(window.data)) {
      if (text.trim() === '') continue;
      const parsed = parseProvisionLine(text);
      if ('error' in parsed) {
        if (parsed.done) throw fail(`the guest of VM "${w.vm}" ended its provisioning report with a malformed line (${parsed.error})`, `the VM is still running; ${logHint}`);
        w.log.warn({ vm: w.vm, error: parsed.error }, 'malformed provisioning record ignored');
        if (++garbage > lim.maxGarbageLines) throw fail(`the guest of VM "${w.vm}" wrote over ${lim.maxGarbageLines} malformed provisioning records (the last: ${parsed.error})`, logHint);
        continue;
      }
      const line = parsed.line;
      if ('done' in line) {
        w.publish({ type: 'vm.provision', vm: w.vm, step: 'done', status: line.ok ? 'ok' : 'failed', ...(line.message === undefined ? {} : { message: line.message }) });
        if (!line.ok) throw provisionFailure(w.vm, w.spec, failed, line);
        w.progress({ step: `provisioning: done${line.message ? ` (${line.message})` : ''}` });
        return;
      }
      if (++records > lim.maxRecords) throw fail(`the guest of VM "${w.vm}" wrote over ${lim.maxRecords} provisioning records; stopped following it`, logHint);
      last = line;
      if (line.status === 'failed') failed = line;
      const { step, name, status, message, output } = line;
      const shownName = step === 'script' && name !== undefined ? scriptNameOf(name) : name;
      w.publish({ type: 'vm.provision', vm: w.vm, step, status, ...(shownName === undefined ? {} : { name: shownName }), ...(message === undefined ? {} : { message }), ...(output === undefined ? {} : { output }) });
      w.progress({ step: progressStep(line, w.spec) });
    }
    if (window.data.length < lim.readBytes) await sleep(lim.pollMs); // a full window: more is waiting, read on at once
  }
}
