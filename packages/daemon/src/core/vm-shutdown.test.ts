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

  it('succeeds when QEMU exits while a power-button press is in flight', async () => {
    const { runtime, exit } = deafRuntime();
    let presses = 0;
    runtime.powerdown.mockImplementation(async () => {
      if (++presses < 2) return;
      setTimeout(exit, 10);
      throw new Error('QMP command "system_powerdown" failed: connection closed');
    });
    await shutdownRuntime(runtime, { force: false, timeoutSec: 30, progress: () => undefined, onEscalate: () => undefined });
    expect(presses).toBe(2);
    expect(runtime.quit).not.toHaveBeenCalled();
  });

  it('still fails when a press fails and QEMU lives on', async () => {
    const { runtime } = deafRuntime();
    runtime.powerdown.mockRejectedValue(new Error('QMP is broken'));
    await expect(shutdownRuntime(runtime, { force: false, timeoutSec: 30, progress: () => undefined, onEscalate: () => undefined })).rejects.toThrow('QMP is broken');
  }, 10_000);
});
