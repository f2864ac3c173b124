import { LodgeError, type Operation, type Progress } from '@lodge/api/lite';
import type { LodgeClient } from '@lodge/client';

interface ProgressView {
  update(p: Progress): void;
  stop(): void;
}

const PERSISTED_PREFIX = 'provisioning: ';

const describe = (label: string, p: Progress): string => `${label}: ${p.step}${p.percent === undefined ? '' : ` (${Math.round(p.percent)}%)`}`;

/** A spinner on a terminal; elsewhere one plain line per new step, so logs stay readable. Both on stderr. */
async function progressView(label: string): Promise<ProgressView> {
  // A terminal without a width (a bare pty) would send ora's line counting into an endless clear loop.
  if (process.stderr.isTTY && process.stderr.columns > 0) {
    const { default: ora } = await import('ora');
    const spinner = ora({ text: `${label}: waiting`, stream: process.stderr }).start();
    let shown = '';
    return {
      update(p) {
        // Provisioning steps stay on screen as lines (a log of what the guest did); the spinner shows the current one.
        if (p.step.startsWith(PERSISTED_PREFIX) && p.step !== shown) {
          spinner.clear();
          process.stderr.write(`${describe(label, p)}\n`);
        }
        shown = p.step;
        spinner.text = describe(label, p);
      },
      stop: () => void spinner.stop(),
    };
  }
  let last = '';
  return {
    update(p) {
      if (p.step === last) return;
      last = p.step;
      process.stderr.write(`${describe(label, p)}\n`);
    },
    stop: () => undefined,
  };
}

/** Waits for an operation, showing its progress unless quiet (--json); returns it finished. */
export async function followOperation(client: LodgeClient, op: Operation, opts: { label: string; quiet: boolean }): Promise<Operation> {
  if (opts.quiet) return client.wait(op);
  const view = await progressView(opts.label);
  if (op.progress) view.update(op.progress);
  try {
    return await client.wait(op, { onProgress: (p) => view.update(p) });
  } finally {
    view.stop();
  }
}

/** The error a failed operation carries, as a LodgeError naming the operation. */
export function operationError(op: Operation): LodgeError {
  const e = op.error ?? { code: 'internal' as const, message: `${op.kind} of ${op.target ?? '?'} failed without a reason` };
  return new LodgeError(e.code, e.message, { hint: e.hint, details: { ...e.details, operation: op.id }, cause: e.cause });
}
