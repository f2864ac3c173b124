import type { Progress } from '@lodge/api';
import type { VmRuntime } from '../ports/vm-driver.js';
import type { GuestService } from './guest-service.js';

/** What stopping needs of a runtime. */
export type StoppableRuntime = Pick<VmRuntime, 'exited' | 'status' | 'powerdown' | 'quit' | 'kill'>;

const QUIT_GRACE_MS = 5000;
/** A guest still booting misses a power-button press made before it listens; press again this often. */
const REPRESS_MS = 3000;
/** How long the power button gets alone before the guest agent is asked too. */
const AGENT_AFTER_MS = 5000;

/** The guest agent's way to power off, when the guest has one; the caller records the stop reason. */
export interface GuestPowerOff {
  available(): boolean;
  /** `reason`: the stop reason while the agent's power-off is the story. */
  powerOff(reason: string): Promise<void>;
}

export interface ShutdownOptions {
  force: boolean;
  timeoutSec: number;
  progress: (p: Progress) => void;
  /** Says why QEMU had to be told to quit or killed, for the stop reason. */
  onEscalate: (why: string) => void;
  guest?: GuestPowerOff;
}

const ACPI_UNANSWERED = { step: 'ACPI not answered; asking the guest agent', reason: 'stopped by user: ACPI not answered; the guest agent powered it off' };

/** The agent path of a graceful stop; the stop reason names the agent only while that is still the story. */
export function guestPowerOff(guest: Pick<GuestService, 'canPowerOff' | 'powerOff'>, vm: string, reasons: Map<string, string>): GuestPowerOff {
  return {
    available: () => guest.canPowerOff(vm),
    powerOff: async (reason) => {
      reasons.set(vm, reason);
      try {
        await guest.powerOff(vm);
      } catch (err) {
        if (reasons.get(vm) === reason) reasons.set(vm, 'stopped by user');
        throw err;
      }
    },
  };
}

function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void p.then(() => (clearTimeout(timer), resolve(true)));
  });
}

/** Asks the guest agent once; true when it took the request. */
async function askAgent(guest: GuestPowerOff | undefined, opts: ShutdownOptions, why = ACPI_UNANSWERED): Promise<boolean> {
  if (!guest?.available()) return false;
  opts.progress({ step: why.step, percent: 40 });
  try {
    await guest.powerOff(why.reason);
    return true;
  } catch (err) {
    opts.progress({ step: `the guest agent could not power off: ${(err as Error).message}; still waiting`, percent: 50 });
    return false;
  }
}

/** Presses the power button until QEMU exits or the timeout; after AGENT_AFTER_MS (at most half the timeout) the agent is asked once. */
async function pressUntilExit(runtime: StoppableRuntime, opts: ShutdownOptions): Promise<boolean> {
  const start = Date.now();
  const deadline = start + opts.timeoutSec * 1000;
  // With a short timeout the agent still gets half of it to act.
  const askAt = start + Math.min(AGENT_AFTER_MS, (opts.timeoutSec * 1000) / 2);
  let asked = false;
  for (;;) {
    await runtime.powerdown().catch(async (err: unknown) => {
      // The guest powering off closes QMP under a press: that is the outcome asked for, not a failure.
      if (!(await within(runtime.exited, QUIT_GRACE_MS))) throw err;
    });
    const now = Date.now();
    const untilAsk = asked ? Infinity : Math.max(askAt - now, 0);
    if (await within(runtime.exited, Math.min(REPRESS_MS, Math.max(deadline - now, 0), untilAsk))) return true;
    if (!asked && Date.now() >= askAt) {
      asked = true;
      void askAgent(opts.guest, opts);
    }
    if (Date.now() >= deadline) return false;
  }
}

/** powerdown (→ guest agent) → wait → quit → kill: the guest gets its chance, QEMU always ends. */
export async function shutdownRuntime(runtime: StoppableRuntime, opts: ShutdownOptions): Promise<void> {
  if (opts.force) {
    opts.progress({ step: 'killing QEMU' });
    await runtime.kill();
    await runtime.exited;
    return;
  }
  let state: 'running' | 'paused';
  try {
    state = await runtime.status();
  } catch (err) {
    return stopWithoutQmp(runtime, opts, err);
  }
  // A paused guest cannot answer the power button.
  if (state === 'paused') {
    opts.progress({ step: 'VM is paused: quitting QEMU' });
  } else {
    opts.progress({ step: 'asking the guest to power off (ACPI)', percent: 10 });
    if (await pressUntilExit(runtime, opts)) return;
    opts.onEscalate(`the guest did not power off within ${opts.timeoutSec}s, QEMU was told to quit`);
    opts.progress({ step: `guest did not power off within ${opts.timeoutSec}s: quitting QEMU`, percent: 80 });
  }
  await runtime.quit().catch(() => undefined);
  if (await within(runtime.exited, QUIT_GRACE_MS)) return;
  opts.onEscalate(`QEMU did not quit within ${QUIT_GRACE_MS / 1000}s and was killed`);
  await runtime.kill();
  await runtime.exited;
}

/**
 * QEMU that does not answer on QMP (no power button, no quit): the guest agent powers off, and QEMU is killed if the
 * guest is not off by the timeout, as after a quit. With no agent to take the request nothing graceful is left: the
 * stop fails with the QMP error (whose hint names --force) and QEMU is left running.
 */
async function stopWithoutQmp(runtime: StoppableRuntime, opts: ShutdownOptions, why: unknown): Promise<void> {
  const asked = { step: `QEMU does not answer on QMP (${(why as Error).message}); asking the guest agent to power off`, reason: 'stopped by user: QEMU did not answer on QMP; the guest agent powered it off' };
  if (!(await askAgent(opts.guest, opts, asked))) throw why;
  if (await within(runtime.exited, opts.timeoutSec * 1000)) return;
  opts.onEscalate(`QEMU did not answer on QMP and the guest did not power off within ${opts.timeoutSec}s, so QEMU was killed`);
  opts.progress({ step: 'killing QEMU', percent: 80 });
  await runtime.kill();
  await runtime.exited;
}
