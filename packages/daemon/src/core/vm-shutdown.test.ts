import { describe, expect, it, vi } from 'vitest';
import type { ExitInfo, VmRuntime } from '../ports/vm-driver.js';
import { shutdownRuntime } from './vm-shutdown.js';

/** A runtime whose guest ignores the power button; `exit()` ends it. */
function deafRuntime() {
  let exit: (info: ExitInfo) => void = () => undefined;
  const exited = new Promise<ExitInfo>((r) => (exit = r));
  const runtime = {
    pid: 1,
    exited,
    status: async () => 'running' as const,
    pause: async () => undefined,
    resume: async () => undefined,
    powerdown: vi.fn(async () => undefined),
    quit: vi.fn(async () => exit({ reason: 'quit' })),
    kill: vi.fn(async () => exit({ reason: 'killed' })),
    onRunState: () => () => undefined,
    detach: () => undefined,
  } satisfies VmRuntime;
  return { runtime, exit: () => exit({ reason: 'guest powered off' }) };
}

describe('shutdownRuntime', () => {
  it('asks the guest agent once when ACPI is not answered, and the agent powers it off', async () => {
    const { runtime, exit } = deafRuntime();
    const steps: string[] = [];
    const powerOff = vi.fn(async () => void setTimeout(exit, 20));
    await shutdownRuntime(runtime, { force: false, timeoutSec: 2, progress: (p) => steps.push(p.step), onEscalate: () => undefined, guest: { available: () => true, powerOff } });
    expect(powerOff).toHaveBeenCalledTimes(1);
    expect(steps).toContain('ACPI not answered; asking the guest agent');
    expect(runtime.quit).not.toHaveBeenCalled();
  });

  it('without an agent waits the timeout, then quits', async () => {
    const { runtime } = deafRuntime();
    const why: string[] = [];
    await shutdownRuntime(runtime, { force: false, timeoutSec: 0.3, progress: () => undefined, onEscalate: (w) => why.push(w), guest: { available: () => false, powerOff: async () => undefined } });
    expect(runtime.quit).toHaveBeenCalledTimes(1);
    expect(why[0]).toMatch(/did not power off within 0.3s/);
  });
});
